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

std::optional<precise_instant> parse_rfc3339_us(std::string_view s) {
  using namespace std::chrono;
  // YYYY-MM-DDTHH:MM:SS is 19 characters; the offset at least one more.
  if (s.size() < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't')
      || s[13] != ':' || s[16] != ':') {
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
  long long micros = 0;
  if (s[pos] == '.') {
    ++pos;
    std::size_t first = pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (pos - first < 6) {
        micros = micros * 10 + (s[pos] - '0');
      }
      ++pos;
    }
    auto n = pos - first;
    if (n == 0 || n > 9) {
      return std::nullopt;
    }
    for (auto i = n; i < 6; ++i) {
      micros *= 10;
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
               + microseconds{micros};
  return time_point_cast<microseconds>(local - minutes{offset_minutes});
}

std::optional<instant> parse_rfc3339(std::string_view s) {
  auto t = parse_rfc3339_us(s);
  if (!t) {
    return std::nullopt;
  }
  return std::chrono::floor<std::chrono::milliseconds>(*t);
}

namespace {

/// "YYYY-MM-DDTHH:MM:SS." then `t`'s fraction in `Precision` with its width of digits, "Z".
template <class Precision>
std::string format(std::chrono::time_point<std::chrono::system_clock, Precision> t, int width) {
  using namespace std::chrono;
  auto day = floor<date::days>(t);
  date::year_month_day ymd{day};
  date::hh_mm_ss<Precision> tod{t - day};
  char out[40];
  std::snprintf(out, sizeof out, "%04d-%02u-%02uT%02d:%02d:%02d.%0*lldZ",
                static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()), static_cast<int>(tod.hours().count()),
                static_cast<int>(tod.minutes().count()), static_cast<int>(tod.seconds().count()),
                width, static_cast<long long>(tod.subseconds().count()));
  return out;
}

} // namespace

std::string format_rfc3339(instant t) {
  return format(t, 3);
}

std::string format_rfc3339_us(precise_instant t) {
  return format(t, 6);
}

} // namespace herald::time
