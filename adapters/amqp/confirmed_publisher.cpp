#include "adapters/amqp/confirmed_publisher.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

namespace herald::amqp {

using std::chrono::steady_clock;

confirmed_publisher::confirmed_publisher(publisher_settings s)
  : settings_(std::move(s)),
    conn_(std::make_unique<connection>(settings_.url, settings_.confirm_timeout)) {
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  thread_ = std::thread{[this] { run(); }};
}

confirmed_publisher::~confirmed_publisher() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    stopping_ = true;
  }
  wake();
  thread_.join();
  close(wake_fd_);
}

void confirmed_publisher::publish(message m, publish_callback done) {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (!stopping_) {
      queue_.push_back({std::move(m), std::move(done)});
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
    if (in_flight_.size() >= settings_.max_in_flight) {
      stats_.failed += 1;
      j.done({publish_status::unavailable, "too many messages awaiting confirmation"});
      continue;
    }
    if (!ensure_connected()) {
      stats_.failed += 1;
      j.done({publish_status::unavailable, "RabbitMQ unavailable: " + conn_->last_error()});
      continue;
    }
    if (auto err = conn_->publish(j.msg); !err.empty()) {
      stats_.failed += 1;
      j.done({publish_status::unavailable, "RabbitMQ unavailable: " + err});
      fail_all_in_flight(err);
      continue;
    }
    in_flight_.emplace(++next_tag_,
                       pending{std::move(j.done),
                               steady_clock::now() + settings_.confirm_timeout});
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
  conn_->close();
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
        fail_all_in_flight("no confirm within "
                           + std::to_string(settings_.confirm_timeout.count()) + " ms");
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
