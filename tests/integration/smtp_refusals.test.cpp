// What a relay's refusals do to notifications, end to end: an in-process Herald node sends
// through the scriptable relay (scripts/lib/smtp_relay.py), which offers PIPELINING,
// keeps SMTP's transaction state as Postfix does, and answers by recipient: 550 or 501 at
// RCPT TO, 554 at the end of DATA, 451 once and then 250. (Retries and dead letters have
// suites of their own: retries, dead_letters.)

#include <boost/test/unit_test.hpp>

#include <algorithm>

#include "support/herald_api.hpp"
#include "support/smtp_relay.hpp"

using namespace herald::test;

namespace {

struct relay_fixture {
  explicit relay_fixture(std::map<std::string, std::string> overrides = {})
    : node([&] {
        overrides.emplace("HERALD_SMTP_URL", env("HERALD_TEST_RELAY_URL"));
        overrides.emplace("HERALD_EMAIL_REQUEUE_DELAY_MS", "200");
        overrides.emplace("HERALD_RETRY_STEPS_MS", "200,400");
        return overrides;
      }()),
      code(create_email_template(node)) {}

  running_node node;
  std::string code;

  /// A user with `email` and a notification to it; the notification's id.
  std::string notify(const std::string& email) {
    return notify_user(create_user(node, {{"email", email}}));
  }

  std::string notify_user(const std::string& user_id) {
    return post_notification(node, user_id, code, {{"name", "Ada"}});
  }

  /// Waits for a final status (sent, skipped, dead: a `failed` one is on its way to the
  /// dead letters) and answers it.
  std::string final_status(const std::string& id) {
    std::string status;
    eventually([&] {
      status = status_of(node, id);
      return status == "sent" || status == "skipped" || status == "dead";
    });
    return status;
  }

  std::string last_error(const std::string& id) {
    auto n = notification(node, id);
    return n.is_object() && n["last_error"].is_string() ? n["last_error"].get<std::string>()
                                                        : std::string{};
  }

  /// The statuses of its timeline, oldest first.
  std::vector<std::string> timeline(const std::string& id) {
    std::vector<std::string> out;
    auto n = notification(node, id);
    if (n.is_object() && n["timeline"].is_array()) {
      for (auto& ev : n["timeline"]) {
        out.push_back(ev.value("status", ""));
      }
    }
    return out;
  }

  std::uint64_t sender(const std::string& counter) {
    return actor_counter(node, "email_sender", counter);
  }

  static std::size_t stored(const std::string& email) {
    return mails_to(env("HERALD_TEST_RELAY_MAILDIR"), email).size();
  }
};

/// One SMTP connection: every mail of the test goes over the same reused connection.
struct one_connection_fixture : relay_fixture {
  one_connection_fixture()
    : relay_fixture(std::map<std::string, std::string>{{"HERALD_SMTP_CONNECTIONS", "1"}}) {}
};

/// For a test that starts its nodes itself, one after another.
struct no_node {};

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(smtp_refusals, relay_fixture)

// The defect fixed in 847e600: a 550 at RCPT TO left the transaction its MAIL FROM opened,
// so the next batch's MAIL FROM got "503 nested MAIL command" and every later mail on the
// connection failed. Each mail here is its own batch (the next is posted once the previous
// one is final), all on one connection.
BOOST_FIXTURE_TEST_CASE(refused_recipients_fail_with_the_relays_code_and_every_other_mail_is_sent,
                        one_connection_fixture) {
  struct expected {
    std::string email;
    std::string id;
    std::string refusal; ///< "" : to be sent; else the relay's code in last_error
  };
  auto refused_user_email = relay_address("reject-");
  auto refused_user = create_user(node, {{"email", refused_user_email}});
  std::vector<expected> mails;
  auto good = [&] {
    auto email = relay_address("good-");
    mails.push_back({email, notify(email), ""});
  };
  good();
  mails.push_back({refused_user_email, notify_user(refused_user), "550"});
  BOOST_TEST_CHECKPOINT("first refusal");
  final_status(mails.back().id);
  mails.push_back({refused_user_email, notify_user(refused_user), "550"});
  for (int i = 0; i < 4; ++i) {
    final_status(mails.back().id);
    good();
  }
  final_status(mails.back().id);
  auto malformed = unique("badsyntax-") + "@example.com"; // the relay refuses it: 501
  mails.push_back({malformed, notify(malformed), "501"});
  final_status(mails.back().id);
  good();

  for (auto& m : mails) {
    BOOST_TEST_CONTEXT("mail to " << m.email << " (" << m.id << ")") {
      auto status = final_status(m.id);
      if (m.refusal.empty()) {
        BOOST_CHECK_EQUAL(status, "sent");
        BOOST_CHECK_EQUAL(stored(m.email), 1u);
      } else {
        BOOST_CHECK_EQUAL(status, "dead"); // failed, then dead-lettered
        auto error = last_error(m.id);
        BOOST_CHECK_MESSAGE(contains(error, m.refusal), "last_error: " << error);
        BOOST_CHECK_MESSAGE(!contains(error, "503"), "last_error: " << error);
      }
    }
  }
  BOOST_CHECK_EQUAL(stored(refused_user_email), 0u);
  BOOST_CHECK_EQUAL(relay_count(refused_user_email, "RCPT", 550), 2u); // each tried once
}

// The same mix queued first and then worked off in batches: refusals in the middle of a
// pipelined group settle only their own mail.
BOOST_FIXTURE_TEST_CASE(refusals_inside_one_pipelined_batch_settle_only_their_own_mail, no_node) {
  std::vector<std::pair<std::string, std::string>> mails; // email, refusal code or ""
  for (auto [prefix, refusal] : std::vector<std::pair<std::string, std::string>>{
         {"good-", ""}, {"reject-", "550"}, {"reject-", "550"}, {"good-", ""}, {"good-", ""},
         {"badsyntax-", "501"}, {"good-", ""}, {"datareject-", "554"}, {"good-", ""}}) {
    mails.emplace_back(relay_address(prefix), refusal);
  }
  std::vector<std::string> ids;
  {
    running_node filler{{{"HERALD_ROLES", "gateway,users,templates"}}}; // queued, not sent
    auto tpl = create_email_template(filler);
    for (auto& [email, refusal] : mails) {
      ids.push_back(post_notification(filler, create_user(filler, {{"email", email}}), tpl,
                                      {{"name", "Ada"}}));
    }
  }
  relay_fixture sender_node{std::map<std::string, std::string>{{"HERALD_SMTP_CONNECTIONS", "1"}}};
  for (std::size_t i = 0; i < mails.size(); ++i) {
    auto& [email, refusal] = mails[i];
    BOOST_TEST_CONTEXT("mail to " << email) {
      auto status = sender_node.final_status(ids[i]);
      BOOST_CHECK_EQUAL(status, refusal.empty() ? "sent" : "dead");
      BOOST_CHECK_EQUAL(relay_fixture::stored(email), refusal.empty() ? 1u : 0u);
      if (!refusal.empty()) {
        auto error = sender_node.last_error(ids[i]);
        BOOST_CHECK_MESSAGE(contains(error, refusal) && !contains(error, "503"),
                            "last_error: " << error);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(a_5xx_at_rcpt_to_fails_the_notification_and_acks_it_without_a_retry) {
  auto failed_before = sender("failed");
  auto requeued_before = sender("requeued");
  auto email = relay_address("reject-");
  auto id = notify(email);
  BOOST_REQUIRE_EQUAL(final_status(id), "dead");
  auto error = last_error(id);
  BOOST_CHECK_MESSAGE(contains(error, "550"), "last_error: " << error);

  // A later mail is sent after it, more than a requeue delay later: a requeued refusal
  // would have been counted and tried again by now.
  auto later = relay_address("later-");
  BOOST_REQUIRE_EQUAL(final_status(notify(later)), "sent");
  BOOST_REQUIRE(eventually([&] { return relay_count(later, "DATA", 250) == 1; }));
  BOOST_CHECK_EQUAL(sender("failed") - failed_before, 1u);
  BOOST_CHECK_EQUAL(sender("requeued") - requeued_before, 0u);
  BOOST_CHECK_EQUAL(relay_count(email, "RCPT"), 1u);
  auto events = timeline(id);
  BOOST_CHECK_EQUAL(std::count(events.begin(), events.end(), "failed"), 1);
  BOOST_CHECK_EQUAL(stored(email), 0u);
}

BOOST_AUTO_TEST_CASE(a_5xx_at_the_end_of_data_fails_the_notification_and_stores_nothing) {
  auto requeued_before = sender("requeued");
  auto email = relay_address("datareject-");
  auto id = notify(email);
  BOOST_REQUIRE_EQUAL(final_status(id), "dead");
  auto error = last_error(id);
  BOOST_CHECK_MESSAGE(contains(error, "554"), "last_error: " << error);
  BOOST_CHECK_EQUAL(relay_count(email, "DATA", 554), 1u);
  BOOST_CHECK_EQUAL(sender("requeued") - requeued_before, 0u);
  BOOST_CHECK_EQUAL(stored(email), 0u);
}

BOOST_AUTO_TEST_CASE(a_4xx_retries_the_notification_until_the_relay_accepts_it_then_it_is_sent_once) {
  auto retried_before = sender("retried");
  auto email = relay_address("defer-once-");
  auto id = notify(email);
  std::vector<std::string> seen; // every status observed on the way
  BOOST_REQUIRE(eventually([&] {
    seen.push_back(status_of(node, id));
    return seen.back() == "sent" || seen.back() == "failed";
  }));
  BOOST_CHECK_EQUAL(seen.back(), "sent");
  BOOST_CHECK(std::find(seen.begin(), seen.end(), "failed") == seen.end());
  auto answers = relay_answers(email);
  BOOST_REQUIRE_GE(answers.size(), 2u);
  BOOST_CHECK_EQUAL(answers.front().code, 451); // first refused for now, then accepted
  BOOST_CHECK_EQUAL(relay_count(email, "RCPT", 451), 1u);
  BOOST_CHECK_EQUAL(relay_count(email, "DATA", 250), 1u);
  BOOST_CHECK_EQUAL(sender("retried") - retried_before, 1u); // through a delay queue
  auto events = timeline(id);
  BOOST_CHECK(std::find(events.begin(), events.end(), "failed") == events.end());
  BOOST_CHECK_EQUAL(stored(email), 1u);
}

BOOST_AUTO_TEST_SUITE_END()
