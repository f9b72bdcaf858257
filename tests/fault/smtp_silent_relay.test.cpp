// A relay that stops answering in the middle of a transaction: the attempt ends after
// smtp.timeout_ms as a transient failure of that message, which is retried through its
// delay queue (retry.steps_ms) and sent on its second attempt, and
// mail to other recipients goes on meanwhile. The scriptable relay never answers RCPT TO
// for a hang-once-... recipient the first time (scripts/lib/smtp_relay.py).

#include <boost/test/unit_test.hpp>

#include <algorithm>

#include "support/herald_api.hpp"
#include "support/notification_db.hpp"
#include "support/smtp_relay.hpp"

using namespace herald::test;

namespace {

constexpr int timeout_ms = 3000;
constexpr int requeue_delay_ms = 200;
constexpr int retry_step_ms = 200;

struct silent_relay_fixture {
  running_node node{{{"HERALD_SMTP_URL", env("HERALD_TEST_RELAY_URL")},
                     {"HERALD_SMTP_TIMEOUT_MS", std::to_string(timeout_ms)},
                     {"HERALD_SMTP_CONNECTIONS", "2"},
                     {"HERALD_EMAIL_REQUEUE_DELAY_MS", std::to_string(requeue_delay_ms)},
                     {"HERALD_RETRY_STEPS_MS", std::to_string(retry_step_ms)}}};
  std::string code = create_email_template(node);

  std::string notify(const std::string& email) {
    return post_notification(node, create_user(node, {{"email", email}}), code, {{"name", "Ada"}});
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(smtp_silent_relay, silent_relay_fixture)

BOOST_AUTO_TEST_CASE(a_silent_relay_ends_the_attempt_within_smtp_timeout_and_the_mail_is_retried_and_sent) {
  auto retried_before = actor_counter(node, "email_sender", "retried");
  auto silent = relay_address("hang-once-");
  auto id = notify(silent);
  BOOST_REQUIRE(eventually([&] { return relay_count(silent, "RCPT", 0) == 1; }));
  auto went_silent = relay_answers(silent).front().at_ms;

  // Posted while the relay keeps one connection waiting: they must not wait behind it.
  std::vector<std::pair<std::string, std::string>> others;
  for (int i = 0; i < 3; ++i) {
    auto email = relay_address("other-");
    others.emplace_back(email, notify(email));
  }

  BOOST_REQUIRE(eventually([&] { return status_of(node, id) == "sent"; }));
  BOOST_CHECK_EQUAL(mails_to(env("HERALD_TEST_RELAY_MAILDIR"), silent).size(), 1u);
  auto answers = relay_answers(silent);
  BOOST_REQUIRE_GE(answers.size(), 2u);
  BOOST_CHECK_EQUAL(answers[1].code, 250); // the retried message, accepted this time
  // The silent attempt ended (the client hung up) and the message came back within
  // smtp.timeout_ms + the retry step and a generous margin; the default timeout (10 s)
  // would not fit.
  auto retried_after = answers[1].at_ms - went_silent;
  BOOST_TEST_MESSAGE("retried " << retried_after << " ms after the relay went silent");
  BOOST_CHECK_LE(retried_after, timeout_ms + retry_step_ms + 4000);
  BOOST_CHECK_EQUAL(actor_counter(node, "email_sender", "retried") - retried_before, 1u);
  BOOST_CHECK_EQUAL(read_notification_row(id).attempts, 2);
  auto record = notification(node, id);
  for (auto& ev : record["timeline"]) {
    BOOST_CHECK_NE(ev.value("status", ""), "failed");
  }

  std::int64_t first_other_delivery = INT64_MAX;
  for (auto& [email, other_id] : others) {
    BOOST_TEST_CONTEXT("mail to " << email) {
      BOOST_REQUIRE(eventually([&, &other_id = other_id] { return status_of(node, other_id) == "sent"; }));
      BOOST_CHECK_EQUAL(mails_to(env("HERALD_TEST_RELAY_MAILDIR"), email).size(), 1u);
      for (auto& a : relay_answers(email)) {
        if (a.step == "DATA" && a.code == 250) {
          first_other_delivery = std::min(first_other_delivery, a.at_ms);
        }
      }
    }
  }
  // The other connection carried on while one waited for the silent relay.
  BOOST_CHECK_LT(first_other_delivery, went_silent + timeout_ms);
}

BOOST_AUTO_TEST_SUITE_END()
