#include "runtime/time/rfc3339.hpp"

#include <date/date.h>

#include <cstdio>

namespace herald::time {

namespace {

/// `count` digits at `s[pos]` as a number, or -1.
int digits(std::string_view s, std::size_t pos, std::size_t count) {
  if (pos + count > s.size()) {
    return -1;
  }
  int v = 0;
  for (std::size_t i = pos; i < pos + count; ++i) {
    if (s[i] < '0' || s[i] > '9') {
      return -1;
    }
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

} // namespace

std::optional<instant> parse_rfc3339(std::string_view s) {
  using namespace std::chrono;
  // YYYY-MM-DDTHH:MM:SS is 19 characters; the offset at least one more.
  if (s.size() < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':'
      || s[16] != ':') {
    return std::nullopt;
  }
  int year = digits(s, 0, 4);
  int month = digits(s, 5, 2);
  int day = digits(s, 8, 2);
  int hour = digits(s, 11, 2);
  int minute = digits(s, 14, 2);
  int second = digits(s, 17, 2);
  if (year < 0 || month < 0 || day < 0 || hour < 0 || hour > 23 || minute < 0 || minute > 59
      || second < 0 || second > 59) {
    return std::nullopt;
  }
  date::year_month_day ymd{date::year{year}, date::month{static_cast<unsigned>(month)},
                           date::day{static_cast<unsigned>(day)}};
  if (!ymd.ok()) {
    return std::nullopt;
  }
  std::size_t pos = 19;
  long long millis = 0;
  if (s[pos] == '.') {
    ++pos;
    std::size_t first = pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (pos - first < 3) {
        millis = millis * 10 + (s[pos] - '0');
      }
      ++pos;
    }
    auto n = pos - first;
    if (n == 0 || n > 9) {
      return std::nullopt;
    }
    for (auto i = n; i < 3; ++i) {
      millis *= 10;
    }
  }
  if (pos >= s.size()) {
    return std::nullopt; // no offset
  }
  int offset_minutes = 0;
  if (s[pos] == 'Z' || s[pos] == 'z') {
    ++pos;
  } else if (s[pos] == '+' || s[pos] == '-') {
    int oh = digits(s, pos + 1, 2);
    int om = digits(s, pos + 4, 2);
    if (oh < 0 || oh > 23 || om < 0 || om > 59 || pos + 3 >= s.size() || s[pos + 3] != ':') {
      return std::nullopt;
    }
    offset_minutes = (oh * 60 + om) * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) {
    return std::nullopt;
  }
  auto local = date::sys_days{ymd} + hours{hour} + minutes{minute} + seconds{second}
               + milliseconds{millis};
  return time_point_cast<milliseconds>(local - minutes{offset_minutes});
}

std::string format_rfc3339(instant t) {
  using namespace std::chrono;
  auto day = floor<date::days>(t);
  date::year_month_day ymd{day};
  date::hh_mm_ss<milliseconds> tod{t - day};
  char out[32];
  std::snprintf(out, sizeof out, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(tod.hours().count()), static_cast<int>(tod.minutes().count()),
                static_cast<int>(tod.seconds().count()),
                static_cast<int>(tod.subseconds().count()));
  return out;
}

} // namespace herald::time
