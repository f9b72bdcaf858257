#pragma once

// Counting attempts per key (an email address, a client address) in fixed one-minute
// windows, for login: every attempt costs a slow password hash, so a burst from one client,
// or against one account, must not take the hasher from everyone else.
//
// Pure policy: time comes in as an argument; thread-safe (one mutex), cheap. Per node: a
// cluster of N users nodes admits up to N times the limit (login limits do not need to be
// exact, only to stop a burst). Bounded: past `max_keys` windows, expired ones are dropped
// and, if that is not enough, all of them (forgetting counts is the cheap failure; refusing
// everyone would be the expensive one).

#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>

namespace herald::runtime {

class attempt_limiter {
public:
  using clock = std::chrono::steady_clock;

  /// `per_window` attempts per key in each `window`; 0 turns the limit off.
  attempt_limiter(std::size_t per_window, std::chrono::seconds window = std::chrono::seconds{60},
                  std::size_t max_keys = 100000)
    : per_window_(per_window), window_(window), max_keys_(max_keys) {}

  /// Counts one attempt for `key`. 0 s when it is admitted; else how long until `key`'s
  /// window ends (at least 1 s), for Retry-After. A refused attempt is not counted.
  std::chrono::seconds admit(const std::string& key, clock::time_point now = clock::now()) {
    if (per_window_ == 0) {
      return std::chrono::seconds{0};
    }
    std::lock_guard<std::mutex> guard{mtx_};
    auto i = windows_.find(key);
    if (i == windows_.end() || now >= i->second.ends) {
      make_room(now);
      windows_[key] = {now + window_, 1};
      return std::chrono::seconds{0};
    }
    if (i->second.count < per_window_) {
      i->second.count += 1;
      return std::chrono::seconds{0};
    }
    auto left = std::chrono::ceil<std::chrono::seconds>(i->second.ends - now);
    return left.count() < 1 ? std::chrono::seconds{1} : left;
  }

  std::size_t per_window() const { return per_window_; }

private:
  struct window {
    clock::time_point ends;
    std::size_t count = 0;
  };

  void make_room(clock::time_point now) {
    if (windows_.size() < max_keys_) {
      return;
    }
    for (auto i = windows_.begin(); i != windows_.end();) {
      i = now >= i->second.ends ? windows_.erase(i) : std::next(i);
    }
    if (windows_.size() >= max_keys_) {
      windows_.clear();
    }
  }

  std::size_t per_window_;
  std::chrono::seconds window_;
  std::size_t max_keys_;
  std::mutex mtx_;
  std::unordered_map<std::string, window> windows_;
};

} // namespace herald::runtime
