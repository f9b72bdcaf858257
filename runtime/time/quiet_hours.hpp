#pragma once

// Quiet hours: a daily period, local wall-clock times HH:MM to HH:MM in an IANA time zone,
// during which a user wants no notifications (user_lookup stores them; the senders defer
// what falls inside, see actors/scheduler/quiet_hours_deferral.hpp). Pure: the instant is an
// argument, zones come from the OS tzdata through Howard Hinnant's date/tz.
//
// Semantics, all in the user's zone:
// - the period is [start, end): the minute `start` is inside, the minute `end` is not;
// - start < end is a same-day period (13:00-15:00); start > end runs overnight
//   (22:00-07:00: 22:00 up to 07:00 the next day);
// - "inside" compares the local wall-clock time, so a period follows DST as a person's day
//   does (22:00-07:00 is 9 h long on most nights, 8 h or 10 h on transition nights);
// - the end is the next instant, after `at`, whose local time is `end`: when that local time
//   does not exist that day (skipped by a spring-forward), the end is the transition itself
//   (the first instant after the gap); when it exists twice (fall-back), the first one that
//   is still ahead of `at`.
// A zone the tz database does not know, or a time that is not HH:MM, is reported as an
// error (quiet_state::error); callers treat it as no quiet hours and say so.

#include <chrono>
#include <optional>
#include <string>

#include "runtime/time/rfc3339.hpp"

namespace herald::time {

struct quiet_state {
  bool inside = false;
  instant until{};   ///< when inside: the end of the period
  std::string error; ///< non-empty: the spec could not be applied (unknown zone, bad time)
};

/// Whether the tz database knows `timezone` (an IANA name such as "Europe/Berlin"): what the
/// users service requires before it stores quiet hours.
bool known_time_zone(const std::string& timezone);

/// Whether `at` falls inside the daily period [start, end) in `timezone`, and when it ends.
quiet_state quiet_at(const std::string& start, const std::string& end,
                     const std::string& timezone, instant at);

} // namespace herald::time
