// Retries through the delay queues, end to end: an in-process Herald node sends through
// the scriptable relay (scripts/lib/smtp_relay.py), which answers `defer-` recipients 451
// every time and `defer-once-` ones 451 the first time. Steps are short here (100, 200 ms).

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <chrono>
#include <thread>

#include "support/herald_api.hpp"
#include "support/notification_db.hpp"
#include "support/smtp_relay.hpp"

using namespace herald::test;

namespace {

struct retry_fixture {
  running_node node{{{"HERALD_SMTP_URL", env("HERALD_TEST_RELAY_URL")},
                     {"HERALD_RETRY_STEPS_MS", "100,200"},
                     {"HERALD_EMAIL_REQUEUE_DELAY_MS", "200"}}};
  std::string code = create_email_template(node);

  std::string notify(const std::string& email) {
    return post_notification(node, create_user(node, {{"email", email}}), code, {{"name", "Ada"}});
  }

  /// The timeline's events of `status`, oldest first.
  std::vector<json> events(const std::string& id, const std::string& status) {
    std::vector<json> out;
    for (auto& ev : read_notification_row(id).timeline) {
      if (ev.value("status", "") == status) {
        out.push_back(ev);
      }
    }
    return out;
  }

  std::uint64_t sender(const std::string& counter) {
    return actor_counter(node, "email_sender", counter);
  }
};

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(retries, retry_fixture)

BOOST_AUTO_TEST_CASE(a_recipient_deferred_every_time_is_retried_once_per_step_then_dead_lettered) {
  auto email = relay_address("defer-");
  auto id = notify(email);
  std::vector<std::pair<std::string, int>> seen; // (status, attempts) observed on the way
  BOOST_REQUIRE(eventually([&] {
    auto n = notification(node, id);
    if (n.is_object()) {
      std::pair<std::string, int> now{n.value("status", ""), n.value("attempts", 0)};
      if (seen.empty() || seen.back() != now) {
        seen.push_back(now);
      }
    }
    return !seen.empty() && (seen.back().first == "failed" || seen.back().first == "dead");
  }));
  auto row = read_notification_row(id);
  BOOST_CHECK_EQUAL(row.attempts, 3); // the first attempt and one per step
  // Each step's retry is in the timeline with its attempt and the relay's 451.
  auto retrying = events(id, "retrying");
  BOOST_REQUIRE_EQUAL(retrying.size(), 2u);
  BOOST_CHECK_MESSAGE(contains(retrying[0].value("detail", ""), "attempt 1 failed")
                        && contains(retrying[0].value("detail", ""), "451"),
                      retrying[0].dump());
  BOOST_CHECK_MESSAGE(contains(retrying[1].value("detail", ""), "attempt 2 failed"),
                      retrying[1].dump());
  auto failed = events(id, "failed");
  BOOST_REQUIRE_EQUAL(failed.size(), 1u);
  BOOST_CHECK_MESSAGE(contains(failed[0].value("detail", ""), "3 attempts failed"), failed[0].dump());
  // Tried exactly three times, each after its step's delay (jitter: at most 10 % less).
  auto answers = relay_answers(email);
  BOOST_REQUIRE_EQUAL(relay_count(email, "RCPT", 451), 3u);
  BOOST_CHECK_GE(answers[1].at_ms - answers[0].at_ms, 90);
  BOOST_CHECK_GE(answers[2].at_ms - answers[1].at_ms, 180);
  // `retrying` was visible on the way (the API shows it between attempts).
  BOOST_TEST_MESSAGE("statuses seen: " << [&] {
    std::string s;
    for (auto& [st, a] : seen) s += st + "/" + std::to_string(a) + " ";
    return s;
  }());
  BOOST_CHECK(mails_to(env("HERALD_TEST_RELAY_MAILDIR"), email).empty());
}

BOOST_AUTO_TEST_CASE(a_recipient_deferred_once_is_delivered_on_the_second_attempt) {
  auto retried_before = sender("retried");
  auto email = relay_address("defer-once-");
  auto id = notify(email);
  BOOST_REQUIRE(eventually([&] { return status_of(node, id) == "sent"; }));
  auto row = read_notification_row(id);
  BOOST_CHECK_EQUAL(row.attempts, 2);
  auto statuses = row.timeline_statuses();
  BOOST_CHECK_EQUAL(std::count(statuses.begin(), statuses.end(), "retrying"), 1);
  BOOST_CHECK_EQUAL(std::count(statuses.begin(), statuses.end(), "failed"), 0);
  BOOST_CHECK_EQUAL(relay_count(email, "RCPT", 451), 1u);
  BOOST_CHECK_EQUAL(relay_count(email, "DATA", 250), 1u);
  BOOST_CHECK_EQUAL(mails_to(env("HERALD_TEST_RELAY_MAILDIR"), email).size(), 1u);
  // Retried once through its delay queue.
  BOOST_CHECK_EQUAL(sender("retried") - retried_before, 1u);
}

// The relay unreachable is not the message's failure: it is requeued without spending an
// attempt, never `retrying`, never dead-lettered, and sent as attempt 1 once it is back.
BOOST_AUTO_TEST_CASE(a_relay_that_cannot_be_reached_burns_no_attempt) {
  auto retried_before = sender("retried");
  auto dead_before = sender("dead_lettered");
  std::string id;
  std::string email = relay_address("patient-");
  {
    stopped_server relay{"relay"};
    auto requeued_before = sender("requeued");
    id = notify(email);
    BOOST_REQUIRE(eventually([&] { return sender("requeued") >= requeued_before + 3; }));
    BOOST_CHECK_NE(status_of(node, id), "retrying");
    BOOST_REQUIRE(relay.start());
  }
  BOOST_REQUIRE(eventually([&] { return status_of(node, id) == "sent"; }));
  auto row = read_notification_row(id);
  BOOST_CHECK_EQUAL(row.attempts, 1);
  auto statuses = row.timeline_statuses();
  BOOST_CHECK_EQUAL(std::count(statuses.begin(), statuses.end(), "retrying"), 0);
  BOOST_CHECK_EQUAL(sender("retried") - retried_before, 0u);
  BOOST_CHECK_EQUAL(sender("dead_lettered") - dead_before, 0u);
  BOOST_CHECK_EQUAL(mails_to(env("HERALD_TEST_RELAY_MAILDIR"), email).size(), 1u);
}

// Each retry reaches exactly one delay queue, so exactly one copy of each attempt comes
// back. (A delay queue bound by an `x-` header matched every retry on RabbitMQ, whose
// headers exchange ignores `x-` headers: each retry then came back once per step, all at
// once; the copies met the attempt in progress, were requeued, and a copy that came back
// after its attempt had ended as `retrying` was tried again.) Afterwards the test waits
// past every copy's return: nothing more is tried, no copy is acked as a duplicate.
BOOST_AUTO_TEST_CASE(each_attempt_is_tried_once_and_a_deferred_once_mail_delivered_once) {
  auto duplicates_before = sender("duplicates");
  auto requeued_before = sender("requeued");
  auto deferred = relay_address("defer-");
  auto once = relay_address("defer-once-");
  auto deferred_id = notify(deferred);
  auto once_id = notify(once);
  BOOST_REQUIRE(eventually([&] {
    auto s = status_of(node, deferred_id);
    return s == "failed" || s == "dead";
  }));
  BOOST_REQUIRE(eventually([&] { return status_of(node, once_id) == "sent"; }));
  // Longer than the last step (200 ms, +10 %) and a requeue (200 ms) after it, twice over.
  std::this_thread::sleep_for(std::chrono::milliseconds{1000});
  BOOST_CHECK_EQUAL(relay_count(deferred, "RCPT", 451), 3u);
  BOOST_CHECK_EQUAL(read_notification_row(deferred_id).attempts, 3);
  BOOST_CHECK_EQUAL(relay_count(once, "RCPT", 451), 1u);
  BOOST_CHECK_EQUAL(relay_count(once, "DATA", 250), 1u);
  BOOST_CHECK_EQUAL(mails_to(env("HERALD_TEST_RELAY_MAILDIR"), once).size(), 1u);
  BOOST_CHECK_EQUAL(read_notification_row(once_id).attempts, 2);
  BOOST_CHECK_EQUAL(sender("duplicates") - duplicates_before, 0u);
  BOOST_CHECK_EQUAL(sender("requeued") - requeued_before, 0u);
}

BOOST_AUTO_TEST_SUITE_END()
