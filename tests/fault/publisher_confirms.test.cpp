// "202 means persisted" when the broker does not simply confirm: it refuses (a nack), it
// never answers (a memory alarm blocks publishing connections), or it drops the
// connection with publishes in flight. Each ends in `rejected`/`unavailable` at the
// publisher and 503 at the gateway, in bounded time, and never in a confirm or a 202 for
// a message the broker does not hold. Every change to the broker (a policy, the memory
// watermark) is undone by a guard when the test ends, also when it fails.

#include <boost/test/unit_test.hpp>

#include <future>
#include <thread>
#include <vector>

#include "actors/messaging/topology.hpp"
#include "support/broker.hpp"
#include "support/herald_api.hpp"
#include "support/publish_probe.hpp"

using namespace herald::test;
using herald::amqp::confirmed_publisher;
using herald::amqp::publish_status;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {

std::chrono::milliseconds since(steady::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - t);
}

/// A node with the gateway but no email worker: email.queue keeps what was accepted.
std::map<std::string, std::string> gateway_only(std::chrono::milliseconds confirm_timeout) {
  return {{"HERALD_ROLES", "gateway,users,templates"},
          {"HERALD_AMQP_CONFIRM_TIMEOUT_MS", std::to_string(confirm_timeout.count())}};
}

struct timed_reply {
  http_reply reply;
  std::chrono::milliseconds took;
};

timed_reply timed_post(const running_node& node, const json& request) {
  auto start = steady::now();
  auto r = post_json(node.url() + "/api/v1/notifications", request);
  return {std::move(r), since(start)};
}

json email_request(const running_node& node) {
  return {{"notification_type", "email"},
          {"user_id", create_user(node)},
          {"template_code", create_email_template(node)},
          {"variables", {{"name", "Ada"}}}};
}

std::string id_of(const http_reply& r) {
  return r.body["data"]["notification_id"].get<std::string>();
}

/// After a fault: the same request is accepted again within `within`, without a restart;
/// its id joins `accepted`.
void accepted_again(const running_node& node, const json& request,
                    std::set<std::string>& accepted, std::chrono::seconds within) {
  http_reply again;
  BOOST_REQUIRE(eventually([&] {
    again = post_json(node.url() + "/api/v1/notifications", request);
    return again.status == 202;
  }, within));
  accepted.insert(id_of(again));
}

/// Each id in `ids` is in `queued`; `what` names what was claimed of it ("202 for").
void check_queued(const std::set<std::string>& ids, const std::set<std::string>& queued,
                  const std::string& what) {
  for (auto& id : ids) {
    BOOST_CHECK_MESSAGE(queued.count(id) == 1, what << " " << id << " but it is not queued");
  }
}

} // namespace

BOOST_AUTO_TEST_SUITE(publisher_confirm_faults)

BOOST_AUTO_TEST_CASE(a_nacked_notification_is_a_503_and_never_a_202) {
  broker_client{}.purge(herald::messaging::email_queue);
  drained_at_exit cleanup{herald::messaging::email_queue};
  running_node node{gateway_only(2000ms)};
  auto request = email_request(node);
  std::set<std::string> accepted;
  {
    // email.queue refuses every message: the broker nacks each publish.
    broker_policy refuse{"herald-test-refuse", "^email\\.queue$",
                         R"({"max-length":0,"overflow":"reject-publish"})"};
    // A policy reaches the queue a moment after set_policy returns; until it does a
    // publish may still be stored (and then rightly answered 202).
    http_reply first;
    BOOST_REQUIRE(eventually([&] {
      first = post_json(node.url() + "/api/v1/notifications", request);
      if (first.status == 202) {
        accepted.insert(id_of(first));
      }
      return first.status == 503;
    }, 10s));
    check_error(first, 503, "nack");
    for (int i = 0; i < 20; ++i) {
      auto r = post_json(node.url() + "/api/v1/notifications", request);
      BOOST_TEST_CONTEXT("reply " << i << ": " << r.raw) {
        BOOST_CHECK_EQUAL(r.status, 503);
      }
      if (r.status == 202) {
        accepted.insert(id_of(r));
      }
    }
    BOOST_CHECK_EQUAL(broker_client{}.message_count(herald::messaging::email_queue),
                      accepted.size());
    BOOST_REQUIRE(refuse.clear());
  }
  // Without the policy the same request is accepted again, and queued.
  accepted_again(node, request, accepted, 10s);
  BOOST_CHECK(as_set(broker_client{}.drain(herald::messaging::email_queue)) == accepted);
}

BOOST_AUTO_TEST_CASE(no_confirm_under_a_memory_alarm_is_a_503_within_the_confirm_timeout) {
  constexpr auto confirm_timeout = 1000ms;
  constexpr auto bound = confirm_timeout + 1000ms; // margin for a loaded machine
  broker_client{}.purge(herald::messaging::email_queue);
  drained_at_exit cleanup{herald::messaging::email_queue};
  running_node node{gateway_only(confirm_timeout)};
  auto request = email_request(node);
  std::set<std::string> accepted;
  auto warm = post_json(node.url() + "/api/v1/notifications", request);
  BOOST_REQUIRE_EQUAL(warm.status, 202);
  accepted.insert(id_of(warm));
  {
    memory_alarm alarm;
    // One after another: each waits out its own confirm timeout, none waits for the
    // publisher to get over the previous one.
    for (int i = 0; i < 3; ++i) {
      auto r = timed_post(node, request);
      BOOST_TEST_CONTEXT("request " << i << " took " << r.took.count()
                                    << " ms: " << r.reply.raw) {
        BOOST_CHECK_EQUAL(r.reply.status, 503);
        BOOST_CHECK_LT(r.took.count(), bound.count());
      }
      if (r.reply.status == 202) {
        accepted.insert(id_of(r.reply));
      }
    }
    // And a burst at once, over many connections.
    std::vector<std::future<timed_reply>> burst;
    for (int i = 0; i < 40; ++i) {
      burst.push_back(std::async(std::launch::async, [&] { return timed_post(node, request); }));
    }
    for (auto& f : burst) {
      auto r = f.get();
      BOOST_TEST_CONTEXT("burst request took " << r.took.count() << " ms: " << r.reply.raw) {
        BOOST_CHECK_EQUAL(r.reply.status, 503);
        BOOST_CHECK_LT(r.took.count(), bound.count());
      }
      if (r.reply.status == 202) {
        accepted.insert(id_of(r.reply));
      }
    }
    BOOST_REQUIRE(alarm.lift());
  }
  // With the alarm over, publishing works again without a restart.
  accepted_again(node, request, accepted, 15s);
  // Every 202 is in the queue (the blocked publishes may or may not be: they were 503s).
  check_queued(accepted, as_set(broker_client{}.drain(herald::messaging::email_queue)), "202 for");
}

BOOST_AUTO_TEST_CASE(a_blocked_connection_fails_every_publish_within_the_confirm_timeout) {
  // More bytes than the socket buffers hold while the broker reads nothing: a publisher
  // whose writes block would never reach its confirm deadline.
  constexpr auto confirm_timeout = 1000ms;
  constexpr std::size_t total = 1500;
  test_queue q{"alarm"};
  outcome_log log;
  {
    confirmed_publisher p{probe_settings(q, confirm_timeout)};
    // Connected and confirming before the alarm.
    p.publish(probe_message(q, "before"), log.record("before"));
    BOOST_REQUIRE(eventually([&] { return log.done() == 1; }, 10s));
    BOOST_REQUIRE_EQUAL(log.confirmed(), 1u);
    {
      memory_alarm alarm;
      auto start = steady::now();
      for (std::size_t i = 0; i < total; ++i) {
        auto id = "m-" + std::to_string(i);
        p.publish(probe_message(q, id, 8192), log.record(id));
      }
      bool all = eventually([&] { return log.done() == total + 1; }, confirm_timeout + 4000ms);
      auto took = since(start).count();
      auto done = log.done() - 1;
      BOOST_CHECK_MESSAGE(all, "outcomes after " << took << " ms: " << done << " of " << total);
      BOOST_CHECK_EQUAL(log.unavailable(), total);
      BOOST_CHECK(log.detail_of(publish_status::unavailable).find("no confirm")
                  != std::string::npos);
      BOOST_REQUIRE(alarm.lift());
    }
    // The publisher reconnects by itself once the alarm is over.
    BOOST_REQUIRE(eventually([&] {
      auto id = unique("after-");
      p.publish(probe_message(q, id), log.record(id));
      auto want = log.started();
      eventually([&] { return log.done() == want; }, 5s);
      return log.with(publish_status::confirmed).count(id) == 1;
    }, 20s));
  }
  BOOST_CHECK(log.called_twice().empty());
  check_queued(log.with(publish_status::confirmed), as_set(broker_client{}.drain(q.queue)),
               "confirmed");
}

BOOST_AUTO_TEST_CASE(a_connection_lost_with_publishes_in_flight_fails_them_and_confirms_only_what_is_queued) {
  // The broker confirms nearly all it has read before it closes a connection, so under
  // plain load the loss often catches nothing in flight. A memory alarm holds publishes
  // in flight (no confirm comes) and a confirm timeout far away keeps them there; then
  // the connections are closed and the loss alone must settle each of them.
  constexpr auto confirm_timeout = 30000ms;
  constexpr std::size_t before = 1000;
  constexpr std::size_t held = 200;
  test_queue q{"lost"};
  outcome_log log;
  {
    confirmed_publisher p{probe_settings(q, confirm_timeout)};
    for (std::size_t i = 0; i < before; ++i) {
      auto id = "before-" + std::to_string(i);
      p.publish(probe_message(q, id), log.record(id));
    }
    BOOST_REQUIRE(eventually([&] { return log.done() == before; }, 20s));
    BOOST_REQUIRE_EQUAL(log.confirmed(), before);
    {
      memory_alarm alarm;
      for (std::size_t i = 0; i < held; ++i) {
        auto id = "held-" + std::to_string(i);
        p.publish(probe_message(q, id), log.record(id));
      }
      BOOST_REQUIRE_MESSAGE(
        eventually([&] { return p.stats().in_flight == std::int64_t{held}; }, 10s),
        "in flight: " << p.stats().in_flight);
      auto closed_at = steady::now();
      auto closed = rabbitmqctl({"close_all_connections", "--global", "herald test: connection lost"});
      BOOST_REQUIRE_MESSAGE(closed.status == 0, closed.output);
      // Settled by the loss, not by the confirm timeout (30 s).
      BOOST_CHECK(eventually([&] { return log.done() == before + held; }, 10s));
      BOOST_CHECK_LT(since(closed_at).count(), 10000);
      BOOST_CHECK_EQUAL(log.unavailable(), held);
      BOOST_CHECK_EQUAL(log.confirmed(), before);
      BOOST_REQUIRE(alarm.lift());
    }
    // Publishing after the loss: confirmed again, without a restart.
    BOOST_REQUIRE(eventually([&] {
      auto id = unique("after-");
      p.publish(probe_message(q, id), log.record(id));
      auto want = log.started();
      eventually([&] { return log.done() == want; }, 5s);
      return log.with(publish_status::confirmed).count(id) == 1;
    }, 20s));
  }
  BOOST_CHECK(log.called_twice().empty());
  BOOST_CHECK(log.detail_of(publish_status::unavailable).find("unavailable")
              != std::string::npos);
  BOOST_CHECK(log.with(publish_status::rejected).empty());
  check_queued(log.with(publish_status::confirmed), as_set(broker_client{}.drain(q.queue)),
               "confirmed");
}

BOOST_AUTO_TEST_CASE(posts_in_flight_when_the_connection_is_lost_are_503s_long_before_the_timeout) {
  // Under load the broker confirms nearly everything it read before it closes a
  // connection, so few publishes are in flight at the instant of the loss. A memory alarm
  // holds them in flight (no confirm comes), a confirm timeout far away keeps them there,
  // and then the connections are closed: the loss alone must answer each of them.
  constexpr auto confirm_timeout = 30000ms;
  constexpr std::size_t posts = 20;
  broker_client{}.purge(herald::messaging::email_queue);
  drained_at_exit cleanup{herald::messaging::email_queue};
  running_node node{gateway_only(confirm_timeout)};
  auto request = email_request(node);
  std::set<std::string> accepted;
  auto warm = post_json(node.url() + "/api/v1/notifications", request);
  BOOST_REQUIRE_EQUAL(warm.status, 202);
  accepted.insert(id_of(warm));
  auto in_flight = [&] {
    std::int64_t n = 0;
    for (auto name : {"amqp_publisher/0", "amqp_publisher/1"}) {
      auto e = registry_entry(node, name);
      n += e.is_object() ? e.value("in_flight", std::int64_t{0}) : 0;
    }
    return n;
  };
  std::vector<std::future<timed_reply>> replies;
  {
    memory_alarm alarm;
    for (std::size_t i = 0; i < posts; ++i) {
      replies.push_back(std::async(std::launch::async, [&] { return timed_post(node, request); }));
    }
    BOOST_REQUIRE_MESSAGE(eventually([&] { return in_flight() == std::int64_t{posts}; }, 10s),
                          "in flight: " << in_flight());
    auto closed_at = steady::now();
    auto closed = rabbitmqctl({"close_all_connections", "--global", "herald test: connection lost"});
    BOOST_REQUIRE_MESSAGE(closed.status == 0, closed.output);
    for (auto& f : replies) {
      auto r = f.get();
      BOOST_TEST_CONTEXT("reply: " << r.reply.raw) {
        BOOST_CHECK_EQUAL(r.reply.status, 503);
      }
      if (r.reply.status == 202) {
        accepted.insert(id_of(r.reply));
      }
    }
    // Answered by the loss, not by the confirm timeout (30 s).
    BOOST_CHECK_LT(since(closed_at).count(), 10000);
    BOOST_REQUIRE(alarm.lift());
  }
  // Sending recovers without a restart.
  accepted_again(node, request, accepted, 15s);
  check_queued(accepted, as_set(broker_client{}.drain(herald::messaging::email_queue)), "202 for");
}

BOOST_AUTO_TEST_SUITE_END()
