#pragma once

// RFC 3339 timestamps as Herald reads and writes them: an instant to the millisecond
// (send_at, the records' timeline), or to the microsecond (the list's since/until, which
// compare with PostgreSQL's created_at).
//
// Read: "YYYY-MM-DDTHH:MM:SS", optional fraction (".", 1-9 digits, cut to the precision
// read), then an offset that must be there: "Z" or "+HH:MM" / "-HH:MM" (hours 00-23,
// minutes 00-59). "T" and "Z" may be lower case (RFC 3339 5.6); a " " between date and
// time is refused. The date must exist (no February 30) and the time be a real one
// (seconds 00-59; a leap second "60" is refused). Written: UTC and "Z", with milliseconds
// as the notification records use them ("2026-11-30T01:45:09.123Z"), or microseconds.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace herald::time {

using instant = std::chrono::time_point<std::chrono::system_clock, std::chrono::milliseconds>;

using precise_instant =
  std::chrono::time_point<std::chrono::system_clock, std::chrono::microseconds>;

/// The instant `text` names, or nullopt when it is not an RFC 3339 timestamp with an offset.
std::optional<instant> parse_rfc3339(std::string_view text);
std::optional<precise_instant> parse_rfc3339_us(std::string_view text);

/// `t` as "YYYY-MM-DDTHH:MM:SS.mmmZ".
std::string format_rfc3339(instant t);
/// `t` as "YYYY-MM-DDTHH:MM:SS.ffffffZ".
std::string format_rfc3339_us(precise_instant t);

/// The current instant, to the millisecond.
inline instant now() {
  return std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

} // namespace herald::time
