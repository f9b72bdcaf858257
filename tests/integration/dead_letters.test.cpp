// Dead letters, end to end: an in-process node with every role (dlq included) sends
// through the scriptable relay (scripts/lib/smtp_relay.py: `reject-` 550 at RCPT TO,
// `defer-` 451 every time). What is given up on reaches failed.queue, is stored by the
// dead_letter service, shows on /api/v1/dead-letters and can be replayed.

#include <boost/test/unit_test.hpp>

#include "actors/common/ids.hpp"
#include "actors/messaging/topology.hpp"
#include "support/broker.hpp"
#include "support/herald_api.hpp"
#include "support/notification_db.hpp"
#include "support/smtp_relay.hpp"

using namespace herald::test;

namespace {

struct dead_letter_fixture {
  running_node node{{{"HERALD_SMTP_URL", env("HERALD_TEST_RELAY_URL")},
                     {"HERALD_RETRY_STEPS_MS", "300,600"},
                     {"HERALD_EMAIL_REQUEUE_DELAY_MS", "200"}}};
  std::string code = create_email_template(node);

  std::string api(const std::string& path = {}) const {
    return node.url() + "/api/v1/dead-letters" + path;
  }

  /// The dead letters of notification `id` among the newest 100 with `reason`.
  std::vector<json> letters_of(const std::string& id, const std::string& reason) {
    auto r = http_call("GET", api("?limit=100&reason=" + reason));
    BOOST_REQUIRE_EQUAL(r.status, 200);
    std::vector<json> out;
    for (auto& d : r.body["data"]) {
      if (d.value("notification_id", "") == id) {
        out.push_back(d);
      }
    }
    return out;
  }

  std::string wait_for(const std::string& id, const std::string& status) {
    std::string now;
    eventually([&] { return (now = status_of(node, id)) == status; });
    return now;
  }

  std::uint64_t sender(const std::string& counter) {
    return actor_counter(node, "email_sender", counter);
  }
};

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(dead_letters, dead_letter_fixture)

BOOST_AUTO_TEST_CASE(a_refused_recipient_is_dead_lettered_once_and_delivered_when_replayed_after_the_fix) {
  auto retried_before = sender("retried");
  auto refused = relay_address("reject-");
  auto user_id = create_user(node, {{"email", refused}});
  auto id = post_notification(node, user_id, code, {{"name", "Ada"}});
  BOOST_REQUIRE_EQUAL(wait_for(id, "dead"), "dead");

  std::vector<json> letters;
  BOOST_REQUIRE(eventually([&] { return !(letters = letters_of(id, "smtp_refused")).empty(); }));
  BOOST_REQUIRE_EQUAL(letters.size(), 1u);
  auto letter = letters.front();
  BOOST_CHECK_MESSAGE(contains(letter.value("detail", ""), "550"), letter.dump());
  BOOST_CHECK_EQUAL(letter["attempts"], 1);
  BOOST_CHECK_EQUAL(letter["channel"], "email");
  BOOST_CHECK(letter["replayed_at"].is_null());
  BOOST_CHECK_EQUAL(letter["notification_status"], "dead");
  BOOST_CHECK_EQUAL(relay_count(refused, "RCPT", 550), 1u); // not retried
  BOOST_CHECK_EQUAL(sender("retried") - retried_before, 0u);
  auto row = read_notification_row(id);
  auto statuses = row.timeline_statuses();
  BOOST_CHECK_EQUAL(std::count(statuses.begin(), statuses.end(), "dead"), 1);

  auto one = http_call("GET", api("/" + letter["id"].get<std::string>()));
  BOOST_REQUIRE_EQUAL(one.status, 200);
  BOOST_CHECK_EQUAL(one.body["data"]["message"]["notification_id"], id);
  BOOST_CHECK_EQUAL(one.body["data"]["correlation_id"], letter["correlation_id"]);

  // The cause fixed through the users API, then replayed: delivered to the new address.
  auto fixed = relay_address("fixed-");
  BOOST_REQUIRE_EQUAL(http_call("PATCH", node.url(1) + "/api/v1/users/" + user_id,
                                json{{"email", fixed}}.dump())
                        .status,
                      200);
  auto replay = http_call("POST", api("/" + letter["id"].get<std::string>() + "/replay"), "{}");
  BOOST_REQUIRE_EQUAL(replay.status, 200);
  BOOST_CHECK_EQUAL(replay.body["data"]["status"], "queued");
  BOOST_REQUIRE_EQUAL(wait_for(id, "sent"), "sent");
  BOOST_CHECK_EQUAL(mails_to(env("HERALD_TEST_RELAY_MAILDIR"), fixed).size(), 1u);
  row = read_notification_row(id);
  BOOST_CHECK_EQUAL(row.attempts, 1); // reset by the replay
  statuses = row.timeline_statuses();
  BOOST_CHECK_EQUAL(statuses.back(), "sent");

  // No longer dead: a second replay is a 409, and nothing is sent again.
  auto again = http_call("POST", api("/" + letter["id"].get<std::string>() + "/replay"), "{}");
  check_error(again, 409, "replayed already");
  auto after = http_call("GET", api("/" + letter["id"].get<std::string>()));
  BOOST_CHECK(after.body["data"]["replayed_at"].is_string());
  BOOST_CHECK_EQUAL(after.body["data"]["notification_status"], "sent");
  BOOST_CHECK_EQUAL(mails_to(env("HERALD_TEST_RELAY_MAILDIR"), fixed).size(), 1u);
}

BOOST_AUTO_TEST_CASE(a_recipient_deferred_past_the_last_step_ends_dead_with_its_attempts) {
  auto email = relay_address("defer-");
  auto id = post_notification(node, create_user(node, {{"email", email}}), code, {{"name", "Ada"}});
  BOOST_REQUIRE_EQUAL(wait_for(id, "dead"), "dead");
  std::vector<json> letters;
  BOOST_REQUIRE(eventually([&] { return !(letters = letters_of(id, "retries_exhausted")).empty(); }));
  BOOST_REQUIRE_EQUAL(letters.size(), 1u);
  BOOST_CHECK_EQUAL(letters.front()["attempts"], 3);
  BOOST_CHECK_MESSAGE(contains(letters.front().value("detail", ""), "451"), letters.front().dump());
  BOOST_CHECK_EQUAL(relay_count(email, "RCPT", 451), 3u);
}

BOOST_AUTO_TEST_CASE(replaying_an_unknown_or_open_ended_dead_letter_is_refused) {
  check_error(http_call("POST", api("/" + herald::make_uuid() + "/replay"), "{}"), 404,
              "no dead letter");
  check_error(http_call("GET", api("/not-a-uuid")), 404, "no dead letter");
  check_error(http_call("GET", api("?page=0")), 400, "page");
  check_error(http_call("POST", api("/replay"), R"({"limit": 0})"), 400, "limit");
  check_error(http_call("POST", api("/replay"), R"({"reasons": "x"})"), 400, "reasons");
}

BOOST_AUTO_TEST_CASE(a_bulk_replay_by_reason_replays_only_that_reason) {
  // Two messages for a template that does not exist yet (published past the gateway's
  // check), and one refused recipient.
  auto user_id = create_user(node, {{"email", relay_address("bulk-")}});
  auto missing = herald::test::unique("later-");
  std::vector<std::string> ids;
  for (int i = 0; i < 2; ++i) {
    auto id = herald::make_uuid();
    publish_direct({{"notification_id", id}, {"notification_type", "email"},
                    {"user_id", user_id}, {"template_code", missing},
                    {"variables", {{"name", "Ada"}}}, {"correlation_id", "bulk-" + id},
                    {"attempt", 1}});
    ids.push_back(id);
  }
  auto refused = post_notification(node, create_user(node, {{"email", relay_address("reject-")}}),
                                   code, {{"name", "Ada"}});
  for (auto& id : ids) {
    BOOST_REQUIRE_EQUAL(wait_for(id, "dead"), "dead");
    BOOST_REQUIRE(eventually([&] { return letters_of(id, "unknown_template").size() == 1; }));
  }
  BOOST_REQUIRE_EQUAL(wait_for(refused, "dead"), "dead");
  BOOST_REQUIRE(eventually([&] { return letters_of(refused, "smtp_refused").size() == 1; }));

  create_email_template(node, {{"template_code", missing}});
  auto r = http_call("POST", api("/replay"),
                     json{{"reason", "unknown_template"}, {"channel", "email"}, {"limit", 1000}}.dump());
  BOOST_REQUIRE_EQUAL(r.status, 200);
  BOOST_CHECK_GE(r.body["data"]["replayed"].get<int>(), 2); // other suites' may be there too
  BOOST_CHECK_EQUAL(r.body["data"]["not_replayed"], 0);
  for (auto& id : ids) {
    BOOST_CHECK_EQUAL(wait_for(id, "sent"), "sent");
  }
  // The other reason untouched.
  BOOST_CHECK_EQUAL(status_of(node, refused), "dead");
  auto untouched = letters_of(refused, "smtp_refused");
  BOOST_REQUIRE_EQUAL(untouched.size(), 1u);
  BOOST_CHECK(untouched.front()["replayed_at"].is_null());
}

// A body that is not even text (invalid UTF-8, a NUL byte) is unreadable for the sender,
// which forwards it to failed.queue as it is. PostgreSQL refuses such bytes in a text
// column: the dead letter keeps a readable rendering of them, and nothing stays stuck on
// failed.queue (one bad message must not hold up the dead letters behind it).
BOOST_AUTO_TEST_CASE(a_body_that_is_not_text_is_dead_lettered_and_does_not_block_the_queue) {
  auto marker = herald::make_uuid();
  publish_raw(std::string{"\xff\xfe not json \0 at all \xc3("} , "email", marker);
  // A notification dead-lettered after it, by the relay's refusal, is stored too.
  auto user_id = create_user(node, {{"email", relay_address("reject-")}});
  auto id = post_notification(node, user_id, code, {{"name", "Ada"}});
  json letter;
  BOOST_REQUIRE(eventually([&] {
    auto r = http_call("GET", api("?limit=100&reason=unreadable"));
    for (auto& d : r.body["data"]) {
      if (d.value("correlation_id", "") == marker) {
        letter = d;
        return true;
      }
    }
    return false;
  }));
  auto whole = http_call("GET", api("/" + letter.value("id", "")));
  BOOST_REQUIRE_EQUAL(whole.status, 200);
  BOOST_TEST_CONTEXT(whole.raw) {
    auto message = whole.body["data"].value("message", "");
    BOOST_CHECK(contains(message, "not json"));
    BOOST_CHECK(!contains(message, std::string{"\0", 1}));
  }
  BOOST_REQUIRE_EQUAL(wait_for(id, "dead"), "dead");
  BOOST_CHECK(eventually([&] { return letters_of(id, "smtp_refused").size() == 1; }));
  BOOST_CHECK(eventually([] { return broker_client{}.message_count(herald::messaging::failed_queue) == 0; }));
}

BOOST_AUTO_TEST_SUITE_END()
