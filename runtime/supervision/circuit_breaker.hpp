#pragma once

// The circuit breaker one supervisor keeps per provider (an SMTP relay, FCM, a Web Push
// service). Closed: calls go through and their outcomes are counted. Open: no call goes
// through until a cool-down has passed. Half-open: exactly one probe goes through, and its
// outcome closes the breaker or opens it again. Pure logic: time and randomness come in as
// arguments, so tests drive it with a fake clock.
//
// What counts: a call the provider could not answer (connection refused, timeout, a
// transient 4xx/5xx of the service itself) is a failure; a call it answered, even with a
// permanent refusal of one recipient, is a success — a bad address says nothing about the
// provider's health.

#include <chrono>
#include <cstdint>
#include <deque>
#include <string_view>

namespace herald::runtime {

struct breaker_policy {
  int consecutive_failures = 5;  ///< this many failures in a row open the breaker
  double failure_rate = 0.5;     ///< or this share of failures over the last `window` calls
  int window = 20;               ///< (judged only once `window` calls were seen)
  std::chrono::milliseconds cool_down{30000};
  double jitter = 0.2;           ///< the cool-down is scaled by a factor in [1 - j, 1 + j]
};

enum class breaker_state { closed, open, half_open };

std::string_view to_string(breaker_state s);

class circuit_breaker {
public:
  using clock = std::chrono::steady_clock;

  explicit circuit_breaker(breaker_policy p = {}, clock::time_point now = clock::now());

  /// Whether a call may start at `now`. Once the cool-down has passed, an open breaker
  /// turns half-open and lets exactly one call (the probe) through; the next is let
  /// through only after the probe's outcome was reported.
  bool allow(clock::time_point now);

  /// The outcome of a call that was allowed. `random01` (uniform in [0, 1)) jitters the
  /// cool-down when this failure opens the breaker.
  void on_success(clock::time_point now);
  void on_failure(clock::time_point now, double random01);

  breaker_state state() const { return state_; }
  clock::time_point since() const { return since_; } ///< of the last transition
  std::uint64_t transitions() const { return transitions_; }
  /// When an open breaker will let a probe through.
  clock::time_point retry_at() const { return retry_at_; }

private:
  void move_to(breaker_state s, clock::time_point now);
  void open(clock::time_point now, double random01);
  bool tripped() const;

  breaker_policy policy_;
  breaker_state state_ = breaker_state::closed;
  clock::time_point since_;
  clock::time_point retry_at_;
  bool probe_in_flight_ = false;
  int consecutive_ = 0;
  std::deque<bool> recent_; ///< outcomes of the last `window` calls, true = failure
  int recent_failures_ = 0;
  std::uint64_t transitions_ = 0;
};

} // namespace herald::runtime
