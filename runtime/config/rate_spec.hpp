#pragma once

// A rate limit as configured: `N/s`, `N/min` or `N/h` (N requests per fixed window of a
// second, a minute or an hour), or `0` for no limit. Pure; used to validate the
// rate_limit.* settings at start-up and by the gateway's admission checks.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace herald::config {

struct rate_spec {
  std::int64_t limit = 0;             ///< requests per window; 0: off
  std::chrono::milliseconds window{0};

  bool off() const { return limit == 0; }
};

/// The spec of `text`, or nullopt (with `*error` saying why) for anything but `0`, `N/s`,
/// `N/min`, `N/h` with N from 1 to 1,000,000,000 (no spaces, signs or leading zeros).
std::optional<rate_spec> parse_rate_spec(std::string_view text, std::string* error = nullptr);

} // namespace herald::config
