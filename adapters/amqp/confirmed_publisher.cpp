#include "adapters/amqp/confirmed_publisher.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

namespace herald::amqp {

using std::chrono::steady_clock;

confirmed_publisher::confirmed_publisher(publisher_settings s)
  : settings_(std::move(s)),
    conn_(std::make_unique<connection>(settings_.url, settings_.confirm_timeout)) {
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  watchdog_ = std::thread{[this] { watch_writes(); }};
  thread_ = std::thread{[this] { run(); }};
}

confirmed_publisher::~confirmed_publisher() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    stopping_ = true;
  }
  wake();
  thread_.join();
  {
    std::lock_guard<std::mutex> guard{wd_mtx_};
    wd_stop_ = true;
  }
  wd_cv_.notify_one();
  watchdog_.join();
  close(wake_fd_);
}

void confirmed_publisher::publish(message m, publish_callback done) {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (!stopping_) {
      queue_.push_back({std::move(m), std::move(done),
                        steady_clock::now() + settings_.confirm_timeout});
      stats_.queued = static_cast<std::int64_t>(queue_.size());
      done = nullptr;
    }
  }
  if (done) {
    done({publish_status::unavailable, "publisher is shutting down"});
    return;
  }
  wake();
}

std::string confirmed_publisher::timeout_reason() const {
  return "no confirm within " + std::to_string(settings_.confirm_timeout.count()) + " ms";
}

void confirmed_publisher::arm_watchdog(steady_clock::time_point deadline) {
  bool notify = false;
  {
    std::lock_guard<std::mutex> guard{wd_mtx_};
    wd_armed_ = true;
    wd_tripped_ = false;
    wd_deadline_ = deadline;
    wd_fd_ = conn_->fd();
    ++wd_epoch_;
    notify = wd_idle_;
  }
  if (notify) {
    wd_cv_.notify_one();
  }
}

bool confirmed_publisher::disarm_watchdog() {
  std::lock_guard<std::mutex> guard{wd_mtx_};
  wd_armed_ = false;
  return wd_tripped_;
}

void confirmed_publisher::watch_writes() {
  // Not woken when re-armed while waiting: deadlines only grow, so it wakes at the old
  // one, sees a new epoch and waits for the new deadline.
  std::unique_lock<std::mutex> lock{wd_mtx_};
  while (!wd_stop_) {
    if (!wd_armed_) {
      wd_idle_ = true;
      wd_cv_.wait(lock);
      wd_idle_ = false;
      continue;
    }
    auto epoch = wd_epoch_;
    if (wd_cv_.wait_until(lock, wd_deadline_, [&] {
          return wd_stop_ || !wd_armed_ || wd_epoch_ != epoch;
        })) {
      continue;
    }
    // Still inside the same write at its deadline: the broker is not reading. The socket
    // stays open while armed (the owner closes it only after disarming), so the fd is
    // still this connection's.
    ::shutdown(wd_fd_, SHUT_RDWR);
    wd_tripped_ = true;
    wd_armed_ = false;
  }
}

void confirmed_publisher::wake() {
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = write(wake_fd_, &one, sizeof one);
}

bool confirmed_publisher::ensure_connected() {
  if (conn_->is_open()) {
    return true;
  }
  auto now = steady_clock::now();
  if (now < next_connect_attempt_) {
    return false;
  }
  next_connect_attempt_ = now + settings_.reconnect_interval;
  auto err = conn_->open();
  if (err.empty()) {
    err = conn_->declare(settings_.declare);
  }
  if (err.empty()) {
    err = conn_->enable_confirms();
  }
  next_tag_ = 0;
  stats_.connected = err.empty();
  return err.empty();
}

void confirmed_publisher::publish_queued(std::deque<job>& batch) {
  // The whole batch goes out in full segments when released, not three sends per message.
  conn_->hold_writes(true);
  while (!batch.empty()) {
    auto j = std::move(batch.front());
    batch.pop_front();
    if (steady_clock::now() >= j.deadline) {
      // Waited out its time behind a write the watchdog gave up on: too late to try.
      stats_.failed += 1;
      j.done({publish_status::unavailable, "RabbitMQ unavailable: " + timeout_reason()});
      continue;
    }
    if (in_flight_.size() >= settings_.max_in_flight) {
      // No room: it and the rest wait, in order, ahead of later publishes, for confirms to
      // make room (their deadlines still count from publish()).
      batch.push_front(std::move(j));
      {
        std::lock_guard<std::mutex> guard{mtx_};
        while (!batch.empty()) {
          queue_.push_front(std::move(batch.back()));
          batch.pop_back();
        }
        stats_.queued = static_cast<std::int64_t>(queue_.size());
      }
      break;
    }
    if (!ensure_connected()) {
      stats_.failed += 1;
      j.done({publish_status::unavailable, "RabbitMQ unavailable: " + conn_->last_error()});
      continue;
    }
    arm_watchdog(in_flight_.empty() ? j.deadline
                                    : std::min(j.deadline, in_flight_.begin()->second.deadline));
    auto err = conn_->publish(j.msg);
    if (disarm_watchdog()) {
      err = timeout_reason() + " (the broker stopped reading: blocked by an alarm?)";
    }
    if (!err.empty()) {
      stats_.failed += 1;
      j.done({publish_status::unavailable, "RabbitMQ unavailable: " + err});
      fail_all_in_flight(err);
      continue;
    }
    in_flight_.emplace(++next_tag_, pending{std::move(j.done), j.deadline});
  }
  conn_->hold_writes(false);
  stats_.in_flight = static_cast<std::int64_t>(in_flight_.size());
}

void confirmed_publisher::settle(const confirm& c) {
  stats_.confirm_frames += 1;
  auto last = c.multiple ? in_flight_.upper_bound(c.tag) : in_flight_.find(c.tag);
  auto first = c.multiple ? in_flight_.begin() : last;
  if (!c.multiple) {
    if (last == in_flight_.end()) {
      return;
    }
    ++last;
  }
  for (auto i = first; i != last; ++i) {
    if (c.ack) {
      stats_.confirmed += 1;
      i->second.done({publish_status::confirmed, {}});
    } else {
      stats_.failed += 1;
      i->second.done({publish_status::rejected, "broker refused the message (nack)"});
    }
  }
  in_flight_.erase(first, last);
  stats_.in_flight = static_cast<std::int64_t>(in_flight_.size());
}

void confirmed_publisher::fail_all_in_flight(const std::string& why) {
  for (auto& [tag, p] : in_flight_) {
    stats_.failed += 1;
    p.done({publish_status::unavailable, "RabbitMQ unavailable: " + why});
  }
  in_flight_.clear();
  stats_.in_flight = 0;
  stats_.connected = false;
  conn_->abort(); // a graceful close would wait for answers a broken broker never sends
}

void confirmed_publisher::run() {
  std::deque<job> batch;
  for (;;) {
    bool stop = false;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      batch.swap(queue_);
      stats_.queued = 0;
      stop = stopping_;
    }
    if (stop) {
      for (auto& j : batch) {
        j.done({publish_status::unavailable, "publisher is shutting down"});
      }
      fail_all_in_flight("publisher is shutting down");
      return;
    }
    if (!in_flight_.empty() && steady_clock::now() >= in_flight_.begin()->second.deadline) {
      fail_all_in_flight(timeout_reason());
    }
    publish_queued(batch);
    // Settle whatever confirms have already arrived without waiting.
    while (conn_->is_open() && !in_flight_.empty() && conn_->has_buffered_data()) {
      if (auto c = conn_->next_confirm(std::chrono::milliseconds{0})) {
        settle(*c);
      } else {
        break;
      }
    }
    if (!conn_->is_open() && !in_flight_.empty()) {
      fail_all_in_flight(conn_->last_error());
    }
    // Sleep until the socket has confirms, a caller has work, or a deadline passes.
    int wait_ms = 1000;
    if (!in_flight_.empty()) {
      auto oldest = in_flight_.begin()->second.deadline;
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        oldest - steady_clock::now());
      if (left.count() <= 0) {
        fail_all_in_flight(timeout_reason());
        continue;
      }
      wait_ms = static_cast<int>(left.count()) + 1;
    }
    pollfd fds[2] = {{wake_fd_, POLLIN, 0}, {conn_->is_open() ? conn_->fd() : -1, POLLIN, 0}};
    if (poll(fds, 2, wait_ms) > 0) {
      if (fds[0].revents & POLLIN) {
        std::uint64_t n;
        [[maybe_unused]] auto r = read(wake_fd_, &n, sizeof n);
      }
      if (fds[1].revents & (POLLIN | POLLERR | POLLHUP)) {
        if (auto c = conn_->next_confirm(std::chrono::milliseconds{0})) {
          settle(*c);
        } else if (!conn_->is_open()) {
          fail_all_in_flight(conn_->last_error());
        } else if (in_flight_.empty()) {
          // Readable with nothing in flight: drain (e.g. the broker closing) to notice loss.
          conn_->next_confirm(std::chrono::milliseconds{0});
          if (!conn_->is_open()) {
            stats_.connected = false;
          }
        }
      }
    }
  }
}

} // namespace herald::amqp
