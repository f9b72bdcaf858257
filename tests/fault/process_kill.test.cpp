// Herald killed with SIGKILL mid-stream and started again (issue 10, fault 2).
//
// Two nodes on the same servers: the worker, `herald serve --roles=all` as a process of
// its own (herald_process), is the only one with the email role; the front, an in-process
// node with the roles gateway, users and templates, takes the stream's POSTs. When the
// worker's sends are under way it is killed with SIGKILL — no shutdown code runs, its
// connections just drop — while the front keeps answering 202 (a POST to the killed
// worker's own gateway gets no answer at all: refused, never accepted). The worker is
// started again and takes up the queue, and killed once more while it drains the backlog
// the first kill left (full batches in flight); started again, every accepted notification
// ends `sent`.
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
// here, times email.consumers, 1) per kill, and each duplicated notification was in flight
// at a kill (its first mail before, its last after). Prints its accounting and the
// duplicates figure.

#include <boost/test/unit_test.hpp>

#include <algorithm>
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
  BOOST_REQUIRE_GE(sent_among(stream.accepted()), 200u); // mid-stream, with margin for a loaded machine

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
  BOOST_CHECK(eventually([&] { return stream.accepted_count() >= accepted_at_kill + 300; }, 15s));

  worker.start();
  BOOST_TEST_MESSAGE("started again (pid " << worker.pid() << ") ready in "
                                           << worker.last_start().count() << " ms");
  // Killed again while it drains the 300 the first kill left waiting: full batches in
  // flight, the widest the window gets.
  auto sent_at_restart = sent_among(stream.accepted());
  BOOST_REQUIRE(eventually([&] { return sent_among(stream.accepted()) > sent_at_restart; }, 15s));
  worker.kill();
  std::vector<std::chrono::system_clock::time_point> kills{killed_at,
                                                           std::chrono::system_clock::now()};
  BOOST_TEST_MESSAGE("killed again " << sent_among(stream.accepted()) - sent_at_restart
                                     << " sends into the backlog of "
                                     << stream.accepted_count() - sent_at_restart);
  worker.start();
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
  BOOST_CHECK_LE(a.duplicates, 2 * prefetch * email_consumers); // two kills
  // The hung mail was never accepted before the first kill; it is sent after a restart,
  // and once more only if the second kill came between that send and its status commit
  // (the window above; the span check below then finds it across the second kill).
  auto hung_sent = relay_count(hanging, "RCPT", 250);
  BOOST_CHECK_GE(hung_sent, 1u);
  BOOST_CHECK_LE(hung_sent, kills.size());

  // Each duplicated notification was in flight at a kill: its first mail before that kill,
  // its last after (500 ms: a mail whose data the relay had whole is stored just after).
  using time_point = std::chrono::system_clock::time_point;
  std::map<std::string, std::pair<time_point, time_point>> span; // first and last mail
  for (auto& m : mails_to(env("HERALD_TEST_RELAY_MAILDIR"), "@" + domain)) {
    auto id = m.header("X-Herald-Notification-ID");
    if (mailed[id] < 2) {
      continue;
    }
    auto at = std::chrono::file_clock::to_sys(std::filesystem::last_write_time(m.path));
    auto [i, fresh] = span.try_emplace(id, at, at);
    i->second.first = std::min(i->second.first, at);
    i->second.second = std::max(i->second.second, at);
  }
  for (auto& [id, s] : span) {
    bool across_a_kill = std::any_of(kills.begin(), kills.end(), [&](time_point k) {
      return s.first <= k + 500ms && s.second >= k;
    });
    BOOST_CHECK_MESSAGE(across_a_kill, "notification " << id << " mailed " << mailed[id]
                                                       << " times, not across a kill");
  }
}

BOOST_AUTO_TEST_SUITE_END()
