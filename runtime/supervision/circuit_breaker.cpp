#include "runtime/supervision/circuit_breaker.hpp"

#include <cmath>

namespace herald::runtime {

std::string_view to_string(breaker_state s) {
  switch (s) {
    case breaker_state::closed:
      return "closed";
    case breaker_state::open:
      return "open";
    case breaker_state::half_open:
      return "half_open";
  }
  return "unknown";
}

circuit_breaker::circuit_breaker(breaker_policy p, clock::time_point now)
  : policy_(p), since_(now), retry_at_(now) {}

bool circuit_breaker::allow(clock::time_point now) {
  switch (state_) {
    case breaker_state::closed:
      return true;
    case breaker_state::open:
      if (now < retry_at_) {
        return false;
      }
      move_to(breaker_state::half_open, now);
      probe_in_flight_ = true;
      return true;
    case breaker_state::half_open:
      if (probe_in_flight_) {
        return false;
      }
      probe_in_flight_ = true;
      return true;
  }
  return false;
}

void circuit_breaker::on_success(clock::time_point now) {
  if (state_ == breaker_state::half_open) {
    move_to(breaker_state::closed, now);
    return;
  }
  consecutive_ = 0;
  recent_.push_back(false);
  if (static_cast<int>(recent_.size()) > policy_.window) {
    recent_failures_ -= recent_.front() ? 1 : 0;
    recent_.pop_front();
  }
}

void circuit_breaker::on_failure(clock::time_point now, double random01) {
  if (state_ == breaker_state::half_open) {
    open(now, random01);
    return;
  }
  if (state_ == breaker_state::open) {
    return; // a call that started before the breaker opened
  }
  ++consecutive_;
  recent_.push_back(true);
  ++recent_failures_;
  if (static_cast<int>(recent_.size()) > policy_.window) {
    recent_failures_ -= recent_.front() ? 1 : 0;
    recent_.pop_front();
  }
  if (tripped()) {
    open(now, random01);
  }
}

bool circuit_breaker::tripped() const {
  if (consecutive_ >= policy_.consecutive_failures) {
    return true;
  }
  return static_cast<int>(recent_.size()) >= policy_.window
         && recent_failures_ >= policy_.failure_rate * policy_.window;
}

void circuit_breaker::open(clock::time_point now, double random01) {
  auto factor = 1.0 + policy_.jitter * (2.0 * random01 - 1.0);
  auto cool_down = std::chrono::milliseconds{
    static_cast<long long>(std::llround(static_cast<double>(policy_.cool_down.count()) * factor))};
  retry_at_ = now + cool_down;
  move_to(breaker_state::open, now);
}

void circuit_breaker::move_to(breaker_state s, clock::time_point now) {
  if (s == breaker_state::closed || s == breaker_state::open) {
    probe_in_flight_ = false;
  }
  if (s == breaker_state::closed) {
    consecutive_ = 0;
    recent_.clear();
    recent_failures_ = 0;
  }
  if (s != state_) {
    ++transitions_;
  }
  state_ = s;
  since_ = now;
}

} // namespace herald::runtime
