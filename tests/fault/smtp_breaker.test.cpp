// The SMTP relays' circuit breakers under a stream of notifications.
//
// smtp_breaker_pause: the SMTP sink the node sends to is stopped for 10 s mid-stream.
// The primary's breaker opens (seen in the registry), the email service cancels its
// consumers so messages wait in RabbitMQ (nothing sent, no attempt spent, nothing
// dead-lettered), a consumer restarted meanwhile is paused at its first delivery (what it
// delivered goes back at once), probes fail while the sink is down, and once it is back a
// probe closes the breaker, consumption resumes and every accepted notification is
// delivered.
//
// smtp_failover: the primary relay (the scriptable relay) is down and smtp.fallback_url
// names the sink: the primary's breaker opens and every notification goes through the
// fallback instead of pausing; once the primary answers again a probe closes its breaker
// and new mail goes through it again.
//
// Each prints its accounting: accepted, sent, skipped, dead, duplicates at the sink, lost.

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include "actors/messaging/topology.hpp"
#include "support/broker.hpp"
#include "support/herald_api.hpp"
#include "support/notification_db.hpp"
#include "support/stream.hpp"

using namespace herald::test;
using namespace std::chrono_literals;

namespace {

using steady = std::chrono::steady_clock;

constexpr int cool_down_ms = 1500;

/// The state of a registry entry ("" when absent).
std::string entry_state(const running_node& node, const std::string& name) {
  auto e = registry_entry(node, name);
  return e.is_object() ? e.value("state", "") : "";
}

std::string breaker_state(const running_node& node, const std::string& relay) {
  return entry_state(node, "smtp_breaker/" + relay);
}

std::string sender_state(const running_node& node) {
  return entry_state(node, "email_sender");
}

} // namespace

BOOST_AUTO_TEST_SUITE(smtp_breaker_pause)

BOOST_AUTO_TEST_CASE(sink_down_mid_stream_opens_the_breaker_pauses_without_spending_attempts_and_all_is_delivered_after) {
  running_node node{{{"HERALD_SMTP_BREAKER_COOL_DOWN_MS", std::to_string(cool_down_ms)},
                     {"HERALD_EMAIL_REQUEUE_DELAY_MS", "200"},
                     {"HERALD_SMTP_TIMEOUT_MS", "3000"}}};
  auto domain = unique("brk") + ".example.com";
  auto code = create_email_template(node);
  auto users = make_users(node, domain, 20);
  BOOST_REQUIRE_EQUAL(breaker_state(node, "primary"), "closed");

  constexpr int total = 1200;
  poster stream{node, users, code, total, 11ms}; // about 13 s of posts
  BOOST_REQUIRE(eventually([&] { return actor_counter(node, "email_sender", "sent") >= 100; }));
  auto retried_before = actor_counter(node, "email_sender", "retried");
  auto dead_before = actor_counter(node, "email_sender", "dead_lettered");
  std::size_t accepted_at_stop = 0;
  {
    stopped_server sink{"smtp"};
    auto stopped_at = steady::now();
    accepted_at_stop = stream.accepted_count();

    // The breaker opens and the email service pauses.
    BOOST_REQUIRE_MESSAGE(
      eventually([&] { return breaker_state(node, "primary") == "open"; }, 10s),
      "breaker: " << registry_entry(node, "smtp_breaker/primary").dump());
    BOOST_TEST_MESSAGE("breaker open " << std::chrono::duration_cast<std::chrono::milliseconds>(
                                            steady::now() - stopped_at)
                                            .count()
                                       << " ms after the sink stopped");
    BOOST_CHECK(eventually([&] { return sender_state(node).rfind("paused", 0) == 0; }, 5s));
    BOOST_CHECK(eventually(
      [&] { return entry_state(node, "email_consumer/0") == "paused email.queue"; },
      5s));

    // Messages wait in RabbitMQ, none held by the node: the ones in hand were requeued.
    broker_client broker;
    BOOST_CHECK_MESSAGE(eventually([&] {
                          return actor_figure(node, "email_sender", "in_flight") == 0
                                 && actor_figure(node, "email_consumer/0", "in_flight") == 0
                                 && broker.message_count(herald::messaging::email_queue) > 0;
                        }, 8s),
                        "email_sender: " << registry_entry(node, "email_sender").dump());
    auto waiting = broker.message_count(herald::messaging::email_queue);
    // From now on the consumer takes nothing: what it settles (acks and requeues) stays
    // put, but for deliveries already on their way when the cancel took effect (at most
    // amqp.prefetch, 500).
    auto settled_at_pause = actor_figure(node, "email_consumer/0", "processed");

    // The sink stays down 10 s; the queue keeps the stream meanwhile.
    std::uint32_t waiting_most = waiting;
    while (steady::now() < stopped_at + 10s) {
      waiting_most = std::max(waiting_most, broker.message_count(herald::messaging::email_queue));
      BOOST_REQUIRE_NE(breaker_state(node, "primary"), "closed");
      std::this_thread::sleep_for(100ms); // polling the outage's end, nothing to wait for
    }
    BOOST_TEST_MESSAGE("messages waiting in email.queue during the outage: up to " << waiting_most);
    auto settled_while_paused = actor_figure(node, "email_consumer/0", "processed") - settled_at_pause;
    BOOST_TEST_MESSAGE("deliveries settled while paused: " << settled_while_paused);
    BOOST_CHECK_LT(settled_while_paused, 500u);
    BOOST_CHECK_GT(waiting_most, waiting);

    // A consumer restarted meanwhile (its connection closed by the broker) starts
    // consuming, and is paused at its first delivery; what it delivered goes back at once.
    auto restarts = actor_figure(node, "email_consumer/0", "restarts");
    auto paused_requeued = actor_counter(node, "email_sender", "paused_requeued");
    BOOST_REQUIRE_EQUAL(rabbitmqctl({"close_all_connections", "-p", env("HERALD_TEST_VHOST"),
                                     "herald test: consumer restart while paused"})
                          .status,
                        0);
    BOOST_CHECK(eventually([&] {
      return actor_figure(node, "email_consumer/0", "restarts") > restarts
             && entry_state(node, "email_consumer/0") == "paused email.queue"
             && actor_counter(node, "email_sender", "paused_requeued") > paused_requeued
             && actor_figure(node, "email_sender", "in_flight") == 0
             && actor_figure(node, "email_consumer/0", "in_flight") == 0;
    }, 10s));
    BOOST_TEST_MESSAGE("requeued at once while paused after the restart: "
                       << actor_counter(node, "email_sender", "paused_requeued") - paused_requeued);
    BOOST_CHECK_EQUAL(sender_state(node).rfind("paused", 0), 0u);

    // Probes after each cool-down found the sink down.
      BOOST_CHECK_EQUAL(actor_counter(node, "email_sender", "retried"), retried_before);
    BOOST_CHECK_EQUAL(actor_counter(node, "email_sender", "dead_lettered"), dead_before);
    BOOST_REQUIRE(sink.start());
  }

  // A probe finds the sink back: closed, consumption resumes.
  BOOST_CHECK(eventually([&] { return breaker_state(node, "primary") == "closed"; },
                         std::chrono::milliseconds{2 * cool_down_ms + 5000}));
  BOOST_CHECK(eventually([&] { return sender_state(node).rfind("sending through primary", 0) == 0; }, 5s));
  BOOST_REQUIRE(eventually([&] { return stream.done(); }, 30s));
  auto ids = stream.accepted();
  BOOST_TEST_MESSAGE("accepted " << accepted_at_stop << " before the stop; refused "
                                 << stream.refused().size());
  BOOST_CHECK_GE(ids.size(), 1000u);
  BOOST_CHECK_GT(ids.size(), accepted_at_stop + 500); // the stream went on through the outage
  BOOST_CHECK(eventually([&] { return all_final(ids); }, 40s));

  auto mailed = mails_per_notification("@" + domain);
  auto a = account("smtp_breaker_pause", ids, mailed);
  BOOST_CHECK_EQUAL(a.sent, ids.size());
  BOOST_CHECK_EQUAL(a.dead, 0u);
  BOOST_CHECK_EQUAL(a.lost, 0u);
  for (auto& id : ids) {
    BOOST_TEST_CONTEXT("notification " << id) {
      BOOST_CHECK_GE(mailed[id], 1);
    }
  }
  // A mail the sink stored as it was stopped, before Herald read its 250, is sent again:
  // at most one per SMTP connection (2).
  BOOST_CHECK_LE(a.duplicates, 2);
  BOOST_CHECK_EQUAL(actor_counter(node, "email_sender", "retried"), retried_before);
  BOOST_CHECK_EQUAL(actor_counter(node, "email_sender", "dead_lettered"), dead_before);
  auto breaker = registry_entry(node, "smtp_breaker/primary");
  BOOST_TEST_MESSAGE("breaker: " << breaker.dump());
  BOOST_CHECK_EQUAL(breaker.value("state", ""), "closed");
  BOOST_CHECK_GE(breaker["counters"].value("opened", 0), 1);
  BOOST_CHECK_GE(breaker["counters"].value("transitions", 0), 3); // open, half-open, closed
  BOOST_CHECK(breaker["info"].contains("last_change"));
  BOOST_CHECK_GE(actor_counter(node, "email_sender", "pauses"), 1u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(smtp_failover)

BOOST_AUTO_TEST_CASE(primary_down_sends_everything_through_the_fallback_and_the_primary_takes_over_when_back) {
  running_node node{{{"HERALD_SMTP_URL", env("HERALD_TEST_RELAY_URL")},
                     {"HERALD_SMTP_FALLBACK_URL", env("HERALD_TEST_SMTP_URL")},
                     {"HERALD_SMTP_BREAKER_COOL_DOWN_MS", std::to_string(cool_down_ms)},
                     {"HERALD_EMAIL_REQUEUE_DELAY_MS", "200"},
                     {"HERALD_SMTP_TIMEOUT_MS", "3000"}}};
  auto domain = unique("fover") + ".example.com";
  auto code = create_email_template(node);
  auto users = make_users(node, domain, 20);
  BOOST_REQUIRE_EQUAL(breaker_state(node, "primary"), "closed");
  BOOST_REQUIRE_EQUAL(breaker_state(node, "fallback"), "closed");
  auto retried_before = actor_counter(node, "email_sender", "retried");
  auto dead_before = actor_counter(node, "email_sender", "dead_lettered");

  std::vector<std::string> ids;
  {
    stopped_server relay{"relay"};
    {
      poster stream{node, users, code, 1000, 0ms};
      BOOST_CHECK(eventually([&] { return breaker_state(node, "primary") == "open"; }, 15s));
      BOOST_CHECK(eventually([&] { return sender_state(node).rfind("sending through fallback", 0) == 0; }, 5s));
      BOOST_REQUIRE(eventually([&] { return stream.done(); }, 40s));
      ids = stream.accepted();
      BOOST_TEST_MESSAGE("refused " << stream.refused().size());
    }
    BOOST_CHECK_EQUAL(ids.size(), 1000u);
    BOOST_CHECK(eventually([&] { return all_final(ids); }, 40s));
    // Still down: a probe after the cool-down fails (the stream may end before the first
    // one), and the primary never carried a batch.
    BOOST_CHECK(eventually(
      [&] { return actor_counter(node, "smtp_breaker/primary", "probe_failures") >= 1u; },
      std::chrono::milliseconds{2 * cool_down_ms + 5000}));
    BOOST_CHECK_NE(breaker_state(node, "primary"), "closed");
    BOOST_REQUIRE(relay.start());
  }
  auto mailed = mails_per_notification("@" + domain); // the fallback is the sink
  auto a = account("smtp_failover", ids, mailed);
  BOOST_CHECK_EQUAL(a.sent, ids.size());
  BOOST_CHECK_EQUAL(a.lost, 0u);
  BOOST_CHECK_EQUAL(a.duplicates, 0);
  BOOST_CHECK_EQUAL(mailed.size(), ids.size());
  BOOST_CHECK_EQUAL(mails_to(env("HERALD_TEST_RELAY_MAILDIR"), "@" + domain).size(), 0u);
  BOOST_CHECK_EQUAL(breaker_state(node, "fallback"), "closed");
  BOOST_CHECK_EQUAL(actor_counter(node, "email_sender", "pauses"), 0u); // failed over instead
  BOOST_CHECK_EQUAL(actor_counter(node, "email_sender", "retried"), retried_before);
  BOOST_CHECK_EQUAL(actor_counter(node, "email_sender", "dead_lettered"), dead_before);

  // The primary answers again: after its cool-down a probe closes it, and it takes over.
  BOOST_REQUIRE(eventually([&] { return breaker_state(node, "primary") == "closed"; },
                           std::chrono::milliseconds{2 * cool_down_ms + 5000}));
  BOOST_CHECK(eventually([&] { return sender_state(node).rfind("sending through primary", 0) == 0; }, 5s));
  auto later_domain = unique("back") + ".example.com";
  auto later_users = make_users(node, later_domain, 5);
  std::vector<std::string> later;
  for (int k = 0; k < 20; ++k) {
    later.push_back(post_notification(node, later_users[static_cast<std::size_t>(k) % 5], code,
                                      {{"name", std::to_string(k)}}));
  }
  BOOST_CHECK(eventually([&] { return all_final(later); }, 20s));
  BOOST_CHECK_EQUAL(mails_to(env("HERALD_TEST_RELAY_MAILDIR"), "@" + later_domain).size(), 20u);
  BOOST_CHECK_EQUAL(mails_per_notification("@" + later_domain).size(), 0u);
  BOOST_TEST_MESSAGE("primary: " << registry_entry(node, "smtp_breaker/primary").dump());
}

BOOST_AUTO_TEST_SUITE_END()
