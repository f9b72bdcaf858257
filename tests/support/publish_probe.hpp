#pragma once

// A confirmed_publisher driven straight from a test, against a queue of the test's own:
// every outcome is recorded by message id, so a test can compare what the publisher
// reported with what the broker holds (broker.hpp's drain).

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "adapters/amqp/confirmed_publisher.hpp"
#include "support/broker.hpp"
#include "support/test_env.hpp"

namespace herald::test {

/// A durable queue bound to a durable exchange, both named after the test and deleted
/// when the scope ends (also on failure).
struct test_queue {
  explicit test_queue(const std::string& prefix,
                      const std::map<std::string, std::string>& string_args = {},
                      const std::map<std::string, std::int64_t>& int_args = {})
    : exchange(unique("herald.test." + prefix + ".x-")), queue(unique("herald.test." + prefix + ".q-")) {
    broker_client{}.declare_queue(queue, exchange, "probe", string_args, int_args);
  }
  ~test_queue() {
    try {
      broker_client c;
      c.delete_queue(queue);
      c.delete_exchange(exchange);
    } catch (...) {
      BOOST_CHECK_MESSAGE(false, "could not delete " << queue);
    }
  }
  test_queue(const test_queue&) = delete;
  test_queue& operator=(const test_queue&) = delete;

  std::string exchange;
  std::string queue;
};

/// The outcomes of publishes by message id.
class outcome_log {
public:
  amqp::publish_callback record(const std::string& id) {
    started_ += 1;
    return [this, id](const amqp::publish_outcome& o) {
      std::lock_guard<std::mutex> guard{mtx_};
      auto [it, fresh] = outcomes_.emplace(id, o);
      if (!fresh) {
        twice_.insert(id);
      }
      done_ += 1;
      if (o.status == amqp::publish_status::unavailable) {
        unavailable_ += 1;
      }
      if (o.status == amqp::publish_status::confirmed) {
        confirmed_ += 1;
      }
    };
  }

  std::size_t started() const { return started_; }
  std::size_t done() const { return done_; }
  std::size_t confirmed() const { return confirmed_; }
  std::size_t unavailable() const { return unavailable_; }

  /// Ids whose callback ran more than once (the publisher promises exactly once).
  std::set<std::string> called_twice() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return twice_;
  }

  std::set<std::string> with(amqp::publish_status s) const {
    std::lock_guard<std::mutex> guard{mtx_};
    std::set<std::string> out;
    for (auto& [id, o] : outcomes_) {
      if (o.status == s) {
        out.insert(id);
      }
    }
    return out;
  }

  /// One detail of an outcome with this status ("" when there is none).
  std::string detail_of(amqp::publish_status s) const {
    std::lock_guard<std::mutex> guard{mtx_};
    for (auto& [id, o] : outcomes_) {
      if (o.status == s) {
        return o.detail;
      }
    }
    return {};
  }

private:
  mutable std::mutex mtx_;
  std::map<std::string, amqp::publish_outcome> outcomes_;
  std::set<std::string> twice_;
  std::atomic<std::size_t> started_{0};
  std::atomic<std::size_t> done_{0};
  std::atomic<std::size_t> confirmed_{0};
  std::atomic<std::size_t> unavailable_{0};
};

inline amqp::publisher_settings probe_settings(const test_queue& q,
                                               std::chrono::milliseconds confirm_timeout) {
  amqp::publisher_settings s;
  s.url = env("HERALD_TEST_AMQP_URL");
  s.declare = {q.exchange, {}}; // the queue is the test's, declared with its arguments
  s.confirm_timeout = confirm_timeout;
  return s;
}

inline amqp::message probe_message(const test_queue& q, const std::string& id,
                                   std::size_t body_size = 300) {
  amqp::message m;
  m.exchange = q.exchange;
  m.routing_key = "probe";
  m.message_id = id;
  m.correlation_id = id;
  m.body = std::string(body_size, 'x');
  return m;
}

inline std::set<std::string> as_set(const std::vector<std::string>& ids) {
  return {ids.begin(), ids.end()};
}

} // namespace herald::test
