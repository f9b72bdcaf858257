#pragma once

// Restart policy of a one-for-one supervisor: exponential backoff with jitter, reset after
// a child has stayed up for a while, and a restart intensity past which the supervisor
// gives up and escalates to its parent. Pure logic: time and randomness come in as
// arguments so tests drive it with a fake clock.

#include <chrono>
#include <deque>
#include <optional>

namespace herald::runtime {

using clock = std::chrono::steady_clock;

struct restart_policy {
  std::chrono::milliseconds initial_delay{100};
  std::chrono::milliseconds max_delay{10000};
  double multiplier = 2.0;
  double jitter = 0.2;                 ///< delay is scaled by a factor in [1 - j, 1 + j]
  int max_restarts = 20;               ///< within `window`; one more escalates
  std::chrono::seconds window{60};
  std::chrono::seconds reset_after{30}; ///< a child up this long starts over at initial_delay
};

/// Tracks the crashes of one child slot.
class restart_tracker {
public:
  explicit restart_tracker(restart_policy p = {}) : policy_(p) {}

  /// A child started at `started` crashed at `now`; `random01` is uniform in [0, 1).
  /// Returns the delay before restarting it, or nullopt when the restart intensity is
  /// exceeded and the supervisor must escalate.
  std::optional<std::chrono::milliseconds> on_crash(clock::time_point now,
                                                    clock::time_point started,
                                                    double random01);

private:
  restart_policy policy_;
  int consecutive_ = 0;
  std::deque<clock::time_point> recent_;
};

} // namespace herald::runtime
