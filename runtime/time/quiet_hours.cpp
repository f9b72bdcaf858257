#include "runtime/time/quiet_hours.hpp"

#include <date/tz.h>

#include <stdexcept>

namespace herald::time {

namespace {

/// Minutes after midnight of "HH:MM", or -1.
int clock_minutes(const std::string& s) {
  if (s.size() != 5 || s[2] != ':') {
    return -1;
  }
  for (int i : {0, 1, 3, 4}) {
    if (s[i] < '0' || s[i] > '9') {
      return -1;
    }
  }
  int h = (s[0] - '0') * 10 + (s[1] - '0');
  int m = (s[3] - '0') * 10 + (s[4] - '0');
  return h < 24 && m < 60 ? h * 60 + m : -1;
}

/// The zone named `name`, or null when the tz database does not know it.
const date::time_zone* find_zone(const std::string& name) {
  try {
    return date::locate_zone(name);
  } catch (const std::exception&) {
    return nullptr;
  }
}

} // namespace

bool known_time_zone(const std::string& timezone) {
  return find_zone(timezone) != nullptr;
}

quiet_state quiet_at(const std::string& start, const std::string& end,
                     const std::string& timezone, instant at) {
  using namespace std::chrono;
  quiet_state out;
  int s = clock_minutes(start);
  int e = clock_minutes(end);
  if (s < 0 || e < 0 || s == e) {
    out.error = "quiet hours '" + start + "'-'" + end + "' are not two different HH:MM times";
    return out;
  }
  auto zone = find_zone(timezone);
  if (zone == nullptr) {
    out.error = "unknown time zone '" + timezone + "'";
    return out;
  }
  auto local = zone->to_local(at);
  auto day = floor<date::days>(local);
  auto minute = static_cast<int>(duration_cast<minutes>(local - day).count());
  date::local_days end_day;
  if (s < e) {
    if (minute < s || minute >= e) {
      return out;
    }
    end_day = day;
  } else if (minute >= s) {
    end_day = day + date::days{1};
  } else if (minute < e) {
    end_day = day;
  } else {
    return out;
  }
  auto end_local = end_day + minutes{e};
  auto info = zone->get_info(end_local);
  instant until;
  switch (info.result) {
    case date::local_info::unique:
      until = time_point_cast<milliseconds>(zone->to_sys(end_local));
      break;
    case date::local_info::nonexistent:
      // Skipped by a spring-forward: the period ends with the gap (its transition).
      until = time_point_cast<milliseconds>(info.first.end);
      break;
    case date::local_info::ambiguous: {
      auto first = time_point_cast<milliseconds>(zone->to_sys(end_local, date::choose::earliest));
      auto second = time_point_cast<milliseconds>(zone->to_sys(end_local, date::choose::latest));
      until = first > at ? first : second;
      break;
    }
  }
  out.inside = true;
  out.until = until;
  return out;
}

} // namespace herald::time
