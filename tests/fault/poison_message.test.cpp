// Fault 7 (issue 10): poison messages in a stream of notifications. The node runs with
// fault.crash_on_variable = "explode": the email sender throws while rendering a message
// whose variables contain that key. Three such messages are posted, one at a time, into a
// stream of 1,000 ordinary ones. Each crash restarts the sender with backoff (its
// consumers with it, so the broker redelivers what it had in flight); the messages that
// were in flight are retried alone; a message that crashed the sender twice is
// dead-lettered with reason `poison` and ends `dead`, visible on /api/v1/dead-letters; every
// other one is sent exactly once. Prints its accounting: accepted, sent, skipped, dead,
// duplicates at the sink, lost.

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <chrono>

#include "support/herald_api.hpp"
#include "support/notification_db.hpp"
#include "support/stream.hpp"

using namespace herald::test;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_SUITE(poison_message)

BOOST_AUTO_TEST_CASE(poison_messages_are_dead_lettered_after_two_crashes_and_the_rest_are_sent_once) {
  running_node node{{{"HERALD_FAULT_CRASH_ON_VARIABLE", "explode"},
                     {"HERALD_EMAIL_REQUEUE_DELAY_MS", "200"}}};
  auto domain = unique("psn") + ".example.com";
  auto code = create_email_template(node);
  auto users = make_users(node, domain, 20);

  constexpr int total = 1000;
  poster stream{node, users, code, total, 8ms}; // about 8 s of posts
  BOOST_REQUIRE(eventually([&] { return actor_counter(node, "email_sender", "sent") >= 100; }));
  std::vector<std::string> poison;
  for (int k = 0; k < 3; ++k) {
    auto sent_before = actor_counter(node, "email_sender", "sent");
    poison.push_back(post_notification(node, users[static_cast<std::size_t>(k)], code,
                                       {{"name", "poison"}, {"explode", k}}));
    // The next one once the stream flows again after this one's crashes.
    BOOST_REQUIRE(eventually(
      [&] { return actor_counter(node, "email_sender", "sent") >= sent_before + 100; }, 20s));
  }
  BOOST_REQUIRE(eventually([&] { return stream.done(); }, 30s));
  auto ids = stream.accepted();
  auto all = ids;
  all.insert(all.end(), poison.begin(), poison.end());
  BOOST_REQUIRE(eventually([&] { return all_final(all); }, 40s));

  auto restarts = actor_figure(node, "email_sender", "restarts");
  BOOST_TEST_MESSAGE("email_sender restarts " << restarts << ", poison "
                     << actor_counter(node, "email_sender", "poison") << ", worked on alone "
                     << actor_counter(node, "email_sender", "isolated")
                     << ", recovered sends "
                     << actor_counter(node, "email_sender", "recovered_sends"));
  BOOST_CHECK_GE(restarts, 6u); // two crashes per poison message
  // Rest-for-one: the consumers restarted with the sender, so the broker redelivered.
  BOOST_CHECK_GE(actor_figure(node, "email_consumer/supervisor", "restarts"), 6u);
  BOOST_CHECK_EQUAL(actor_counter(node, "email_sender", "poison"), poison.size());

  // Each poison message: dead, with one dead letter of reason poison and the crash's text.
  auto letters = http_call("GET", node.url() + "/api/v1/dead-letters?reason=poison&limit=100");
  BOOST_REQUIRE_EQUAL(letters.status, 200);
  for (auto& id : poison) {
    BOOST_CHECK_EQUAL(status_of(node, id), "dead");
    auto n = std::count_if(letters.body["data"].begin(), letters.body["data"].end(),
                           [&](const json& d) {
                             return d.value("notification_id", "") == id
                                    && d.value("detail", "").find("fault injection")
                                         != std::string::npos;
                           });
    BOOST_CHECK_EQUAL(n, 1);
  }

  auto mailed = mails_per_notification("@" + domain);
  auto a = account("poison_message", all, mailed);
  BOOST_CHECK_EQUAL(stream.refused().size(), 0u);
  BOOST_CHECK_EQUAL(a.accepted, static_cast<std::size_t>(total) + poison.size());
  BOOST_CHECK_EQUAL(a.sent, ids.size()); // every other one sent ...
  BOOST_CHECK_EQUAL(a.dead, poison.size());
  BOOST_CHECK_EQUAL(a.lost, 0u);
  BOOST_CHECK_EQUAL(a.duplicates, 0); // ... exactly once
  BOOST_CHECK_EQUAL(mailed.size(), ids.size());
  for (auto& id : poison) {
    BOOST_CHECK_EQUAL(mailed.count(id), 0u); // never sent
  }
}

BOOST_AUTO_TEST_SUITE_END()
