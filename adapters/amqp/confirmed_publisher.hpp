#pragma once

// Persistent publishing with publisher confirms, group-committed: one I/O thread owns one
// connection in confirm mode and keeps many messages in flight at once. A caller's
// callback runs (on that thread) only once the broker has confirmed its own message as
// persisted (`confirmed`), refused it (`rejected`), or the outcome became unknowable
// (`unavailable`: no connection, lost connection, or no confirm within the timeout — the
// message may or may not have been stored, so the caller must not claim it was).
//
// While the broker is unreachable, publishes fail at once (no queueing in memory) and the
// thread tries to reconnect at most every `reconnect_interval`.
//
// At most `max_in_flight` messages await their confirms; later ones wait in the queue,
// in order, until confirms make room (a bulk request may hand over thousands at once).
//
// Bounded time: every callback runs within about `confirm_timeout` of its publish() call,
// whatever the broker does. The timeout counts from publish(), not from the write; a
// broker that stops reading (a memory or disk alarm blocks publishing connections) cannot
// hold the thread in a blocking write past it: a watchdog shuts the socket down at the
// deadline, the write fails, and every message on that connection ends `unavailable`.
// A connection given up on is dropped without the closing handshake, which a blocked
// broker would not answer either.

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "adapters/amqp/connection.hpp"

namespace herald::amqp {

enum class publish_status { confirmed, rejected, unavailable };

struct publish_outcome {
  publish_status status;
  std::string detail;
};

using publish_callback = std::function<void(const publish_outcome&)>;

struct publisher_settings {
  std::string url;
  topology declare; ///< declared on every (re)connect
  std::chrono::milliseconds confirm_timeout{2000};
  std::chrono::milliseconds reconnect_interval{250};
  std::size_t max_in_flight = 4096;
};

/// Counters read by the owner for introspection and metrics.
struct publisher_stats {
  std::atomic<std::uint64_t> confirmed{0};
  std::atomic<std::uint64_t> failed{0};
  std::atomic<std::uint64_t> confirm_frames{0}; ///< acks and nacks read (one may settle many)
  std::atomic<std::int64_t> queued{0};
  std::atomic<std::int64_t> in_flight{0};
  std::atomic<bool> connected{false};
};

class confirmed_publisher {
public:
  explicit confirmed_publisher(publisher_settings s);
  ~confirmed_publisher(); ///< fails whatever is still pending, then joins the thread
  confirmed_publisher(const confirmed_publisher&) = delete;
  confirmed_publisher& operator=(const confirmed_publisher&) = delete;

  /// Thread-safe; never blocks on the network. `done` is called exactly once.
  void publish(message m, publish_callback done);

  const publisher_stats& stats() const { return stats_; }

private:
  struct job {
    message msg;
    publish_callback done;
    std::chrono::steady_clock::time_point deadline; ///< publish() + confirm_timeout
  };
  struct pending {
    publish_callback done;
    std::chrono::steady_clock::time_point deadline;
  };

  void run();
  bool ensure_connected();
  void publish_queued(std::deque<job>& batch);
  void settle(const confirm& c);
  void fail_all_in_flight(const std::string& why);
  void wake();
  std::string timeout_reason() const;

  // The write watchdog: armed around each write with the earliest deadline it may hold up.
  void arm_watchdog(std::chrono::steady_clock::time_point deadline);
  bool disarm_watchdog(); ///< true when the watchdog shut the socket down meanwhile
  void watch_writes();

  publisher_settings settings_;
  publisher_stats stats_;
  std::unique_ptr<connection> conn_;
  std::uint64_t next_tag_ = 0;
  std::map<std::uint64_t, pending> in_flight_;
  std::chrono::steady_clock::time_point next_connect_attempt_{};

  std::mutex mtx_;
  std::deque<job> queue_;
  bool stopping_ = false;
  int wake_fd_ = -1;

  std::mutex wd_mtx_;
  std::condition_variable wd_cv_;
  bool wd_armed_ = false;
  bool wd_idle_ = false;
  bool wd_tripped_ = false;
  bool wd_stop_ = false;
  int wd_fd_ = -1;
  std::uint64_t wd_epoch_ = 0;
  std::chrono::steady_clock::time_point wd_deadline_{};
  std::thread watchdog_;

  std::thread thread_;
};

} // namespace herald::amqp
