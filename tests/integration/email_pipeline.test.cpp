// One email notification end to end through real RabbitMQ, PostgreSQL, Redis and SMTP.

#include <boost/test/unit_test.hpp>

#include "support/herald_api.hpp"

using namespace herald::test;
using json = nlohmann::json;

namespace {

struct pipeline_fixture {
  explicit pipeline_fixture(const std::map<std::string, std::string>& overrides = {})
    : node(overrides) {}

  running_node node;

  /// Creates a user and an email template; returns {user_id, email, template_code}.
  std::tuple<std::string, std::string, std::string> user_and_template() {
    auto email = unique("ada-") + "@example.com";
    auto user_id = create_user(node, {{"email", email}, {"name", "Ada Lovelace"}});
    auto code = create_email_template(node, {{"template_code", unique("welcome-")},
                                             {"subject", "Welcome, {{name}}!"},
                                             {"body", "Hello {{name}}, your code is {{code}}."},
                                             {"variables", {"name", "code"}}});
    return {user_id, email, code};
  }

  /// Posts an email notification of user_and_template()'s template; returns its id.
  std::string send(const std::string& user_id, const std::string& code) {
    return post_notification(node, user_id, code, {{"name", "A"}, {"code", "B"}});
  }

  std::string status_of(const std::string& id) { return herald::test::status_of(node, id); }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(email_pipeline, pipeline_fixture)

BOOST_AUTO_TEST_CASE(notification_is_rendered_sent_once_and_recorded_as_sent) {
  auto [user_id, email, code] = user_and_template();
  auto accepted = http_call("POST", node.url() + "/api/v1/notifications/",
                            json{{"notification_type", "email"},
                                 {"user_id", user_id},
                                 {"template_code", code},
                                 {"variables", {{"name", "Ada"}, {"code", "X-42"}}},
                                 {"request_id", unique("req-")}}
                              .dump(),
                            {{"X-Correlation-ID", "corr-e2e-1"}});
  BOOST_REQUIRE_EQUAL(accepted.status, 202);
  BOOST_CHECK_EQUAL(accepted.body["success"], true);
  BOOST_CHECK_EQUAL(accepted.body["data"]["status"], "queued");
  BOOST_CHECK_EQUAL(accepted.body["data"]["channel"], "email");
  BOOST_CHECK_EQUAL(accepted.body["data"]["correlation_id"], "corr-e2e-1");
  BOOST_CHECK_EQUAL(accepted.headers["X-Correlation-ID"], "corr-e2e-1");
  auto id = accepted.body["data"]["notification_id"].get<std::string>();

  BOOST_REQUIRE(eventually([&] { return status_of(id) == "sent"; }));
  auto maildir = env("HERALD_TEST_MAILDIR");
  auto mails = mails_to(maildir, email);
  BOOST_REQUIRE_EQUAL(mails.size(), 1u);
  auto& mail = mails.front();
  BOOST_CHECK_EQUAL(mail.header("Subject"), "Welcome, Ada!");
  BOOST_CHECK_NE(mail.header("To").find(email), std::string::npos);
  BOOST_CHECK_EQUAL(mail.header("X-Correlation-ID"), "corr-e2e-1");
  BOOST_CHECK_NE(mail.decoded_text().find("Hello Ada, your code is X-42."), std::string::npos);

  auto record = http_call("GET", node.url() + "/api/v1/notifications/" + id);
  BOOST_CHECK_EQUAL(record.body["data"]["user_id"], user_id);
  BOOST_CHECK_EQUAL(record.body["data"]["correlation_id"], "corr-e2e-1");
  std::vector<std::string> statuses;
  for (auto& ev : record.body["data"]["timeline"]) {
    statuses.push_back(ev["status"].get<std::string>());
  }
  BOOST_CHECK(std::find(statuses.begin(), statuses.end(), "queued") != statuses.end());
  BOOST_CHECK(std::find(statuses.begin(), statuses.end(), "sent") != statuses.end());
}

BOOST_AUTO_TEST_CASE(a_changed_address_is_used_by_the_very_next_notification) {
  auto [user_id, email, code] = user_and_template();
  auto first = send(user_id, code); // every cache on the way now holds the first address
  BOOST_REQUIRE(eventually([&] { return status_of(first) == "sent"; }));
  auto moved = unique("moved-") + "@example.com";
  auto patch = http_call("PATCH", node.url(1) + "/api/v1/users/" + user_id,
                         json{{"email", moved}}.dump());
  BOOST_REQUIRE_EQUAL(patch.status, 200);
  auto second = send(user_id, code);
  BOOST_REQUIRE(eventually([&] { return status_of(second) == "sent"; }));
  auto maildir = env("HERALD_TEST_MAILDIR");
  BOOST_CHECK_EQUAL(mails_to(maildir, email).size(), 1u);
  BOOST_CHECK_EQUAL(mails_to(maildir, moved).size(), 1u);
}

BOOST_AUTO_TEST_CASE(email_turned_off_after_a_send_skips_the_next_one) {
  auto [user_id, email, code] = user_and_template();
  auto first = send(user_id, code);
  BOOST_REQUIRE(eventually([&] { return status_of(first) == "sent"; }));
  auto prefs = http_call("PUT", node.url(1) + "/api/v1/users/" + user_id + "/preferences",
                         json{{"email", false}}.dump());
  BOOST_REQUIRE_EQUAL(prefs.status, 200);
  auto second = send(user_id, code);
  json timeline;
  BOOST_REQUIRE(eventually([&] { // skipped, and the gateway's queued event has landed too
    auto record = http_call("GET", node.url() + "/api/v1/notifications/" + second);
    timeline = record.body["data"]["timeline"];
    return record.body["data"]["status"] == "skipped" && timeline.size() == 2;
  }));
  BOOST_CHECK_EQUAL(timeline[0]["status"], "queued"); // first, even if written second
  BOOST_CHECK_EQUAL(timeline[1]["status"], "skipped");
  BOOST_CHECK_NE(timeline[1]["detail"].get<std::string>().find("turned email notifications off"),
                 std::string::npos);
  BOOST_CHECK_EQUAL(mails_to(env("HERALD_TEST_MAILDIR"), email).size(), 1u);
}

BOOST_AUTO_TEST_CASE(user_who_turned_email_off_is_skipped) {
  auto email = unique("quiet-") + "@example.com";
  auto user_id = create_user(
    node, {{"email", email}, {"name", "Quiet"}, {"preferences", {{"email", false}}}});
  auto [other_user, other_email, code] = user_and_template();
  auto id = send(user_id, code);
  BOOST_REQUIRE(eventually([&] { return status_of(id) == "skipped"; }));
  BOOST_CHECK(mails_to(env("HERALD_TEST_MAILDIR"), email).empty());
}

BOOST_AUTO_TEST_SUITE_END()

namespace {

/// A node whose SMTP relay is the second sink, chosen through HERALD_SMTP_URL.
struct other_relay_fixture : pipeline_fixture {
  other_relay_fixture() : pipeline_fixture({{"HERALD_SMTP_URL", env("HERALD_TEST_SMTP2_URL")}}) {}
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(email_relay, other_relay_fixture)

BOOST_AUTO_TEST_CASE(herald_smtp_url_sends_through_that_server) {
  auto [user_id, email, code] = user_and_template();
  auto accepted = post_json(node.url() + "/api/v1/notifications",
                            {{"notification_type", "email"},
                             {"user_id", user_id},
                             {"template_code", code},
                             {"variables", {{"name", "Relay"}, {"code", "R-1"}}}});
  BOOST_REQUIRE_EQUAL(accepted.status, 202);
  auto id = accepted.body["data"]["notification_id"].get<std::string>();
  BOOST_REQUIRE(eventually([&] { return status_of(id) == "sent"; }));
  BOOST_CHECK_EQUAL(mails_to(env("HERALD_TEST_MAILDIR2"), email).size(), 1u);
  BOOST_CHECK(mails_to(env("HERALD_TEST_MAILDIR"), email).empty());
}

BOOST_AUTO_TEST_SUITE_END()
