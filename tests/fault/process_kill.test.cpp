// Herald killed with SIGKILL mid-stream and started again (issue 10, fault 2).
//
// Two nodes on the same servers: the worker, `herald serve --roles=all` as a process of
// its own (herald_process), is the only one with the email role; the front, an in-process
// node with the roles gateway, users and templates, takes the stream's POSTs. When the
// worker's sends are under way it is killed with SIGKILL — no shutdown code runs, its
// connections just drop — while the front keeps answering 202 (a POST to the killed
// worker's own gateway gets no answer at all: refused, never accepted). The worker is
// started again and takes up the queue: every accepted notification ends `sent`.
//
// The kill comes while a send is certainly in flight: the worker sends through the
// scriptable relay, and notification 400 of the stream goes to a "hang-once-" address,
// whose RCPT TO the relay leaves unanswered the first time (smtp.timeout_ms is 10 s); the
// worker is killed once the relay has that RCPT TO. Its batch is then unacked in the dead
// worker's hands, and sent after the restart (the relay accepts that address the second
// time).
//
// Duplicates at the sink can only come from the window between a send and its status
// commit: a message is acked after its `sent` is committed, and a redelivered message whose
// notification is already final is acked without sending. So the duplicates are at most
// the messages the killed worker held unacked (amqp.prefetch per consumer, set to 100
// here, times email.consumers, 1), and each duplicated notification's first mail reached
// the sink before the kill. Prints its accounting and the duplicates figure.

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <filesystem>

#include "support/herald_api.hpp"
#include "support/herald_process.hpp"
#include "support/notification_db.hpp"
#include "support/smtp_relay.hpp"
#include "support/stream.hpp"

using namespace herald::test;
using namespace std::chrono_literals;

namespace {

constexpr int prefetch = 100;
constexpr int email_consumers = 1;

std::size_t sent_among(const std::vector<std::string>& ids) {
  std::size_t n = 0;
  for (auto& [id, status] : read_statuses(ids)) {
    n += status == "sent";
  }
  return n;
}

std::uint64_t worker_counter(const herald_process& worker, const std::string& actor,
                             const std::string& counter) {
  auto r = http_call("GET", worker.url() + "/api/v1/introspection/actors");
  if (r.status == 200 && r.body["data"].is_array()) {
    for (auto& a : r.body["data"]) {
      if (a.value("name", "") == actor && a["counters"].is_object()) {
        return a["counters"].value(counter, std::uint64_t{0});
      }
    }
  }
  return 0;
}

} // namespace

BOOST_AUTO_TEST_SUITE(process_kill)

BOOST_AUTO_TEST_CASE(herald_killed_mid_stream_and_started_again_loses_nothing_and_duplicates_only_what_was_in_flight) {
  running_node front{{{"HERALD_ROLES", "gateway,users,templates"}}};
  herald_process worker{{{"HERALD_ROLES", "all"},
                         {"HERALD_SMTP_URL", env("HERALD_TEST_RELAY_URL")},
                         {"HERALD_AMQP_PREFETCH", std::to_string(prefetch)},
                         {"HERALD_EMAIL_CONSUMERS", std::to_string(email_consumers)}}};
  BOOST_TEST_MESSAGE("herald serve (pid " << worker.pid() << ") ready in "
                                          << worker.last_start().count() << " ms");
  auto domain = unique("kill") + ".example.com";
  auto code = create_email_template(front);
  auto users = make_users(front, domain, 20);
  auto hanging = "hang-once-k@" + domain;
  constexpr int total = 1200;
  constexpr int hanging_at = 400;
  std::vector<std::string> sequence; // the user of notification k
  for (int k = 0; k < total; ++k) {
    sequence.push_back(k == hanging_at ? create_user(front, {{"email", hanging}})
                                       : users[static_cast<std::size_t>(k) % users.size()]);
  }

  poster stream{front, sequence, code, total, 10ms}; // about 12 s of posts
  BOOST_REQUIRE(eventually([&] { return relay_count(hanging, "RCPT", 0) == 1; }, 30s));
  BOOST_REQUIRE_GE(sent_among(stream.accepted()), 300u);

  worker.kill();
  auto killed_at = std::chrono::system_clock::now();
  auto accepted_at_kill = stream.accepted_count();
  auto sent_at_kill = sent_among(stream.accepted());
  BOOST_TEST_MESSAGE("killed with SIGKILL at " << accepted_at_kill << " accepted, "
                                               << sent_at_kill << " sent");
  // The killed node's gateway refuses (no answer); the front goes on accepting.
  auto dead = post_json(worker.url() + "/api/v1/notifications",
                        {{"notification_type", "email"},
                         {"user_id", users[0]},
                         {"template_code", code},
                         {"variables", {{"name", "dead"}}}});
  BOOST_CHECK_EQUAL(dead.status, 0);
  BOOST_CHECK(eventually([&] { return stream.accepted_count() >= accepted_at_kill + 100; }, 15s));

  worker.start();
  BOOST_TEST_MESSAGE("started again (pid " << worker.pid() << ") ready in "
                                           << worker.last_start().count() << " ms");
  BOOST_REQUIRE(eventually([&] { return stream.done(); }, 40s));
  auto ids = stream.accepted();
  BOOST_TEST_MESSAGE("refused " << stream.refused().size());
  BOOST_CHECK_EQUAL(stream.refused().size(), 0u);
  BOOST_CHECK_EQUAL(ids.size(), static_cast<std::size_t>(total));
  BOOST_CHECK(eventually([&] { return all_final(ids); }, 40s));

  auto mailed = relay_mails_per_notification("@" + domain);
  auto a = account("process_kill", ids, mailed);
  BOOST_CHECK_EQUAL(a.sent, ids.size());
  BOOST_CHECK_EQUAL(a.lost, 0u);
  BOOST_CHECK_EQUAL(mailed.size(), ids.size());
  BOOST_TEST_MESSAGE("duplicates " << a.duplicates << " in " << a.accepted << " accepted ("
                                   << 100.0 * a.duplicates / static_cast<double>(a.accepted)
                                   << " %); redeliveries acked without sending after the restart: "
                                   << worker_counter(worker, "email_sender", "duplicates"));
  BOOST_CHECK_LE(a.duplicates, prefetch * email_consumers);
  BOOST_CHECK_EQUAL(relay_count(hanging, "RCPT", 250), 1u); // sent after the restart

  // Each duplicated notification was first mailed before the kill: none comes from after.
  for (auto& m : mails_to(env("HERALD_TEST_RELAY_MAILDIR"), "@" + domain)) {
    auto id = m.header("X-Herald-Notification-ID");
    if (mailed[id] < 2) {
      continue;
    }
    auto stored = std::filesystem::last_write_time(m.path);
    auto stored_at = std::chrono::file_clock::to_sys(stored);
    BOOST_TEST_CONTEXT("duplicated notification " << id << ", mail " << m.path) {
      // One of its mails is from before the kill (the 1 s margin: the file clock's
      // granularity against the test's).
      if (stored_at <= killed_at + 1s) {
        mailed[id] = -1000; // seen one from before: the others are its re-sends
      }
    }
  }
  for (auto& [id, n] : mailed) {
    BOOST_TEST_CONTEXT("notification " << id) {
      BOOST_CHECK_MESSAGE(n < 2, "mailed " << n << " times, none of them before the kill");
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
