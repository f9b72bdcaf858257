// "202 means persisted", without a fault: the confirmed publisher keeps many messages in
// flight on one connection and the broker confirms them with multiple-acks (and, for a
// full queue, multiple-nacks); each caller must hear the outcome of its own message. The
// gateway's 202s, under hundreds of concurrent POSTs, must be exactly the messages in
// email.queue.

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

namespace {

/// Publishes `per_thread` messages from each of `threads` threads at once; ids are
/// "<prefix>-<thread>-<i>".
void publish_concurrently(confirmed_publisher& p, const test_queue& q, outcome_log& log,
                          int threads, int per_thread) {
  std::vector<std::thread> publishers;
  for (int t = 0; t < threads; ++t) {
    publishers.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        auto id = "m-" + std::to_string(t) + "-" + std::to_string(i);
        p.publish(probe_message(q, id), log.record(id));
      }
    });
  }
  for (auto& t : publishers) {
    t.join();
  }
}

} // namespace

BOOST_AUTO_TEST_SUITE(publisher_confirms)

BOOST_AUTO_TEST_CASE(many_concurrent_publishes_are_each_confirmed_by_a_multiple_ack_and_queued) {
  test_queue q{"confirms"};
  outcome_log log;
  // 4000 at once: under the publisher's max_in_flight (4096), so none is turned away.
  constexpr int threads = 4;
  constexpr int per_thread = 1000;
  constexpr std::size_t total = threads * per_thread;
  {
    confirmed_publisher p{probe_settings(q, 10s)};
    publish_concurrently(p, q, log, threads, per_thread);
    BOOST_REQUIRE_MESSAGE(eventually([&] { return log.done() == total; }, 30s),
                          "outcomes: " << log.done() << " of " << total);
    BOOST_TEST_MESSAGE("confirm frames for " << total
                                             << " messages: " << p.stats().confirm_frames);
    // Fewer confirm frames than messages: the broker did ack with `multiple`, so the
    // publisher matched ranges of tags to their callers, not one frame per message.
    BOOST_CHECK_LT(p.stats().confirm_frames.load(), total);
    BOOST_CHECK_EQUAL(p.stats().confirmed.load(), total);
  }
  BOOST_CHECK(log.called_twice().empty());
  auto confirmed = log.with(publish_status::confirmed);
  BOOST_CHECK_EQUAL(confirmed.size(), total);
  auto queued = broker_client{}.drain(q.queue);
  BOOST_CHECK_EQUAL(queued.size(), total); // each message once
  BOOST_CHECK(as_set(queued) == confirmed);
}

BOOST_AUTO_TEST_CASE(acks_and_nacks_in_one_window_each_reach_their_own_publisher) {
  // The queue holds 1000 and refuses the rest: the broker acks the first 1000 tags and
  // nacks every later one, in (multiple) confirms that interleave with the publishes.
  constexpr std::size_t capacity = 1000;
  test_queue q{"nacks", {{"x-overflow", "reject-publish"}},
               {{"x-max-length", static_cast<std::int64_t>(capacity)}}};
  outcome_log log;
  constexpr int threads = 3;
  constexpr int per_thread = 1000;
  constexpr std::size_t total = threads * per_thread;
  {
    confirmed_publisher p{probe_settings(q, 10s)};
    publish_concurrently(p, q, log, threads, per_thread);
    BOOST_REQUIRE_MESSAGE(eventually([&] { return log.done() == total; }, 30s),
                          "outcomes: " << log.done() << " of " << total);
  }
  BOOST_CHECK(log.called_twice().empty());
  auto confirmed = log.with(publish_status::confirmed);
  auto rejected = log.with(publish_status::rejected);
  BOOST_CHECK_EQUAL(confirmed.size(), capacity);
  BOOST_CHECK_EQUAL(rejected.size(), total - capacity);
  BOOST_CHECK_EQUAL(log.unavailable(), 0u);
  BOOST_CHECK(log.detail_of(publish_status::rejected).find("nack") != std::string::npos);
  // What was confirmed is exactly what the queue holds: no refused message was
  // reported confirmed and no stored one reported refused.
  auto queued = broker_client{}.drain(q.queue);
  BOOST_CHECK_EQUAL(queued.size(), capacity);
  BOOST_CHECK(as_set(queued) == confirmed);
}

BOOST_AUTO_TEST_CASE(hundreds_of_concurrent_posts_answer_202_exactly_for_the_queued_messages) {
  // Nothing consumes email.queue (no email role), so it holds exactly what was accepted.
  broker_client{}.purge(herald::messaging::email_queue);
  drained_at_exit cleanup{herald::messaging::email_queue};
  running_node node{{{"HERALD_ROLES", "gateway,users,templates"}}};
  auto user = create_user(node);
  auto code = create_email_template(node);
  json request = {{"notification_type", "email"},
                  {"user_id", user},
                  {"template_code", code},
                  {"variables", {{"name", "Ada"}}}};
  constexpr int clients = 32;
  constexpr int per_client = 10;
  std::vector<std::future<std::vector<http_reply>>> runs;
  for (int c = 0; c < clients; ++c) {
    runs.push_back(std::async(std::launch::async, [&] {
      std::vector<http_reply> replies;
      for (int i = 0; i < per_client; ++i) {
        replies.push_back(post_json(node.url() + "/api/v1/notifications", request));
      }
      return replies;
    }));
  }
  std::set<std::string> accepted;
  std::size_t answers = 0;
  for (auto& r : runs) {
    for (auto& reply : r.get()) {
      answers += 1;
      BOOST_TEST_CONTEXT("reply: " << reply.raw) {
        BOOST_CHECK_EQUAL(reply.status, 202);
      }
      if (reply.status == 202) {
        accepted.insert(reply.body["data"]["notification_id"].get<std::string>());
      }
    }
  }
  BOOST_CHECK_EQUAL(answers, std::size_t{clients * per_client});
  BOOST_CHECK_EQUAL(accepted.size(), std::size_t{clients * per_client});
  auto queued = broker_client{}.drain(herald::messaging::email_queue);
  BOOST_CHECK_EQUAL(queued.size(), accepted.size());
  BOOST_CHECK(as_set(queued) == accepted);
}

BOOST_AUTO_TEST_SUITE_END()
