// With RabbitMQ stopped the gateway answers 503 at once (in under a second, far below the
// confirm timeout: nothing waits for a broker that is not there) and says why; when the
// broker is back, sending works again without restarting Herald.

#include <boost/test/unit_test.hpp>

#include "support/herald_api.hpp"
#include "support/test_env.hpp"

using namespace herald::test;
using json = nlohmann::json;

BOOST_AUTO_TEST_SUITE(broker_outage)

BOOST_AUTO_TEST_CASE(gateway_answers_503_while_rabbitmq_is_down_and_recovers_after) {
  running_node node;
  auto email = unique("outage-") + "@example.com";
  auto user = post_json(node.url(1) + "/api/v1/users", {{"email", email}, {"name", "Olive"}});
  BOOST_REQUIRE_EQUAL(user.status, 201);
  auto code = unique("outage-");
  BOOST_REQUIRE_EQUAL(post_json(node.url(2) + "/api/v1/templates",
                                {{"template_code", code},
                                 {"channel", "email"},
                                 {"subject", "Back"},
                                 {"body", "Hi {{name}}"}})
                        .status,
                      201);
  json request = {{"notification_type", "email"},
                  {"user_id", user.body["data"]["id"]},
                  {"template_code", code},
                  {"variables", {{"name", "Olive"}}}};

  stopped_server broker{"rabbitmq"}; // started again at the end of the scope, even on failure
  // The client timeout (10 s) is far above the confirm timeout (2 s): the bound below is
  // what shows the 503 does not wait for a confirm or a connect timeout.
  auto start = std::chrono::steady_clock::now();
  auto refused = post_json(node.url() + "/api/v1/notifications", request);
  auto took = std::chrono::steady_clock::now() - start;
  BOOST_TEST_CONTEXT("reply after " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                                    << " ms: " << refused.raw) {
    BOOST_CHECK_EQUAL(refused.status, 503);
    BOOST_CHECK(took < std::chrono::seconds{1});
    BOOST_CHECK_EQUAL(refused.body["success"], false);
    BOOST_CHECK(refused.body["error"].is_string());
  }
  auto ready = http_call("GET", node.url() + "/health/ready");
  BOOST_TEST_CONTEXT("ready: " << ready.raw) {
    BOOST_CHECK_EQUAL(ready.status, 503);
    BOOST_CHECK_EQUAL(ready.body["data"]["dependencies"]["rabbitmq"]["status"], "down");
    BOOST_CHECK_EQUAL(ready.body["data"]["dependencies"]["postgres"]["status"], "up");
  }

  BOOST_REQUIRE(broker.start());
  http_reply accepted;
  BOOST_REQUIRE(eventually([&] {
    accepted = post_json(node.url() + "/api/v1/notifications", request);
    return accepted.status == 202;
  }));
  auto id = accepted.body["data"]["notification_id"].get<std::string>();
  BOOST_CHECK(eventually(
    [&] {
      auto r = http_call("GET", node.url() + "/api/v1/notifications/" + id);
      return r.status == 200 && r.body["data"]["status"] == "sent";
    },
    std::chrono::seconds{60}));
  BOOST_CHECK_EQUAL(mails_to(env("HERALD_TEST_MAILDIR"), email).size(), 1u);
  BOOST_CHECK_EQUAL(http_call("GET", node.url() + "/health/ready").status, 200);
}

BOOST_AUTO_TEST_SUITE_END()
