#include "runtime/supervision/restart_policy.hpp"

#include <algorithm>
#include <cmath>

namespace herald::runtime {

std::optional<std::chrono::milliseconds>
restart_tracker::on_crash(clock::time_point now, clock::time_point started, double random01) {
  if (now - started >= policy_.reset_after) {
    consecutive_ = 0;
  }
  while (!recent_.empty() && now - recent_.front() > policy_.window) {
    recent_.pop_front();
  }
  recent_.push_back(now);
  if (static_cast<int>(recent_.size()) > policy_.max_restarts) {
    return std::nullopt;
  }
  auto base = static_cast<double>(policy_.initial_delay.count())
              * std::pow(policy_.multiplier, consecutive_);
  base = std::min(base, static_cast<double>(policy_.max_delay.count()));
  ++consecutive_;
  auto factor = 1.0 + policy_.jitter * (2.0 * random01 - 1.0);
  return std::chrono::milliseconds{static_cast<long long>(std::llround(base * factor))};
}

} // namespace herald::runtime
