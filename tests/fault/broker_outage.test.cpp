// With RabbitMQ stopped the gateway answers 503 at once (in under a second, far below the
// confirm timeout: nothing waits for a broker that is not there) and says why; when the
// broker is back, sending works again without restarting Herald (broker_outage); the same
// under a stream of notifications (broker_outage_stream, below).

#include <boost/test/unit_test.hpp>

#include <thread>

#include "support/herald_api.hpp"
#include "support/stream.hpp"
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

// RabbitMQ stopped for 10 s in the middle of a stream of notifications (issue 10, fault 3).
// While it is down every POST answers 503 (none answers 202: nothing can be confirmed), the
// gateway's readiness names rabbitmq down, and once it is back the stream is accepted
// again without restarting Herald; every 202 — those from before the stop included, some
// of them unacked in the worker's hands when the broker went — ends `sent`, its mail in the
// sink once. Prints its accounting.

BOOST_AUTO_TEST_SUITE(broker_outage_stream)

BOOST_AUTO_TEST_CASE(rabbitmq_down_10s_mid_stream_answers_503_meanwhile_and_delivers_every_202_after) {
  using namespace std::chrono_literals;
  using steady = std::chrono::steady_clock;
  running_node node;
  auto domain = unique("amqp") + ".example.com";
  auto code = create_email_template(node);
  auto users = make_users(node, domain, 20);

  poster stream{node, users, code, 20000, 8ms}; // stopped below, once enough came after
  BOOST_REQUIRE(eventually([&] { return actor_counter(node, "email_sender", "sent") >= 300; }));
  BOOST_REQUIRE_GE(stream.accepted_count(), 300u);
  std::size_t accepted_while_down = 0;
  std::size_t accepted_before = 0;
  std::size_t refused_while_down = 0;
  {
    stopped_server broker{"rabbitmq"};
    // The poster posts one at a time: once it recorded a refusal after the stop, every
    // later answer is to a request made with the broker gone.
    auto refused_at_stop = stream.refused_count();
    BOOST_REQUIRE(eventually([&] { return stream.refused_count() > refused_at_stop; }, 5s));
    accepted_before = stream.accepted_count();
    auto down_from = steady::now();
    auto ready = http_call("GET", node.url() + "/health/ready");
    BOOST_TEST_CONTEXT("ready while down: " << ready.raw) {
      BOOST_CHECK_EQUAL(ready.status, 503);
      BOOST_CHECK_EQUAL(ready.body["data"]["dependencies"]["rabbitmq"]["status"], "down");
    }
    // Down 10 s: nothing accepted meanwhile.
    auto refused_down_from = stream.refused_count();
    while (steady::now() < down_from + 10s) {
      BOOST_REQUIRE_EQUAL(stream.accepted_count(), accepted_before);
      std::this_thread::sleep_for(100ms); // watching the outage's 10 s, nothing to wait for
    }
    accepted_while_down = stream.accepted_count() - accepted_before;
    refused_while_down = stream.refused_count() - refused_down_from;
    BOOST_REQUIRE(broker.start());
  }
  // Accepted again without restarting Herald: 700 more (the stream's 1,000 after the stop).
  BOOST_CHECK(eventually([&] { return stream.accepted_count() >= accepted_before + 700; }, 30s));
  stream.stop();
  BOOST_REQUIRE(eventually([&] { return stream.done(); }, 10s));
  auto ids = stream.accepted();
  auto refused = stream.refused();
  BOOST_TEST_MESSAGE("accepted " << accepted_before << " before the stop, "
                                 << accepted_while_down << " while down, " << ids.size()
                                 << " in all; refused " << refused.size() << " ("
                                 << refused_while_down << " in the 10 s down)");
  BOOST_CHECK_EQUAL(accepted_while_down, 0u);
  BOOST_CHECK_GE(refused_while_down, 100u); // the stream went on into the outage
  BOOST_CHECK_GE(ids.size(), 1000u);
  for (auto& r : refused) {
    BOOST_TEST_CONTEXT("refused: " << r.substr(0, 300)) {
      BOOST_CHECK_EQUAL(r.rfind("503 ", 0), 0u);
    }
  }

  BOOST_CHECK(eventually([&] { return all_final(ids); }, 40s));
  auto mailed = mails_per_notification("@" + domain);
  auto a = account("broker_outage_stream", ids, mailed);
  BOOST_CHECK_EQUAL(a.sent, ids.size());
  BOOST_CHECK_EQUAL(a.lost, 0u);
  for (auto& id : ids) {
    BOOST_TEST_CONTEXT("notification " << id) {
      BOOST_CHECK_GE(mailed[id], 1);
    }
  }
  // A POST whose confirm the broker's stop cut off is a 503 ("may or may not be stored"):
  // stored, it is delivered all the same, a mail with no 202 behind it.
  BOOST_TEST_MESSAGE("mails of notifications answered 503: " << mailed.size() - ids.size());
  // No process died, so no send lost its status commit: a message redelivered because its
  // ack could not reach the broker is found `sent` and acked without sending.
  BOOST_CHECK_EQUAL(a.duplicates, 0);
  BOOST_CHECK_EQUAL(http_call("GET", node.url() + "/health/ready").status, 200);
}

BOOST_AUTO_TEST_SUITE_END()
