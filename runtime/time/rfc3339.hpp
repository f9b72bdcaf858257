#pragma once

// RFC 3339 timestamps as Herald reads and writes them: an instant to the millisecond.
//
// Read: "YYYY-MM-DDTHH:MM:SS", optional fraction (".", 1-9 digits, cut to milliseconds),
// then an offset that must be there: "Z" (or "z") or "+HH:MM" / "-HH:MM" (hours 00-23,
// minutes 00-59). The date must exist (no February 30) and the time be a real one (seconds
// 00-59; a leap second "60" is refused). A "t" or " " between date and time is refused too:
// one spelling, the one every client library writes. Written: UTC with milliseconds and
// "Z", the form the notification records use ("2026-11-30T01:45:09.123Z").

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace herald::time {

using instant = std::chrono::time_point<std::chrono::system_clock, std::chrono::milliseconds>;

/// The instant `text` names, or nullopt when it is not an RFC 3339 timestamp with an offset.
std::optional<instant> parse_rfc3339(std::string_view text);

/// `t` as "YYYY-MM-DDTHH:MM:SS.mmmZ".
std::string format_rfc3339(instant t);

/// The current instant, to the millisecond.
inline instant now() {
  return std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

} // namespace herald::time
