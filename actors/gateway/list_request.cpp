#include "actors/gateway/list_request.hpp"

#include <array>
#include <cctype>
#include <cstdio>

#include "actors/common/ids.hpp"
#include "actors/user_lookup/user_requests.hpp"

namespace herald {

namespace {

constexpr std::array<const char*, 9> statuses{"queued", "scheduled", "processing",
                                              "sent",   "retrying",  "failed",
                                              "skipped", "dead",     "cancelled"};

std::string in_quotes(const std::string& v) {
  return "'" + v.substr(0, 64) + (v.size() > 64 ? "...'" : "'");
}

} // namespace

std::optional<std::chrono::sys_time<std::chrono::microseconds>>
parse_rfc3339(const std::string& s) {
  using namespace std::chrono;
  auto digits = [&](std::size_t at, std::size_t n, int& out) {
    if (at + n > s.size()) {
      return false;
    }
    out = 0;
    for (std::size_t i = at; i < at + n; ++i) {
      if (!std::isdigit(static_cast<unsigned char>(s[i]))) {
        return false;
      }
      out = out * 10 + (s[i] - '0');
    }
    return true;
  };
  int y, mo, d, h, mi, sec;
  if (s.size() < 20 || !digits(0, 4, y) || s[4] != '-' || !digits(5, 2, mo) || s[7] != '-'
      || !digits(8, 2, d) || (s[10] != 'T' && s[10] != 't') || !digits(11, 2, h)
      || s[13] != ':' || !digits(14, 2, mi) || s[16] != ':' || !digits(17, 2, sec)) {
    return std::nullopt;
  }
  year_month_day date{year{y}, month{static_cast<unsigned>(mo)}, day{static_cast<unsigned>(d)}};
  if (!date.ok() || h > 23 || mi > 59 || sec > 59) {
    return std::nullopt;
  }
  std::size_t at = 19;
  std::int64_t micros = 0;
  if (at < s.size() && s[at] == '.') {
    ++at;
    std::size_t first = at;
    std::int64_t scale = 100000;
    while (at < s.size() && std::isdigit(static_cast<unsigned char>(s[at]))) {
      micros += (s[at] - '0') * scale;
      scale /= 10;
      ++at;
    }
    if (at == first || at - first > 9) {
      return std::nullopt;
    }
  }
  minutes offset{0};
  if (at + 1 == s.size() && (s[at] == 'Z' || s[at] == 'z')) {
    // UTC
  } else if (at + 6 == s.size() && (s[at] == '+' || s[at] == '-') && s[at + 3] == ':') {
    int oh, om;
    if (!digits(at + 1, 2, oh) || !digits(at + 4, 2, om) || oh > 23 || om > 59) {
      return std::nullopt;
    }
    offset = minutes{(s[at] == '-' ? -1 : 1) * (oh * 60 + om)};
  } else {
    return std::nullopt;
  }
  return sys_days{date} + hours{h} + minutes{mi} + seconds{sec} + microseconds{micros} - offset;
}

std::string format_utc(std::chrono::sys_time<std::chrono::microseconds> t) {
  using namespace std::chrono;
  auto day = floor<days>(t);
  year_month_day ymd{day};
  hh_mm_ss<microseconds> tod{t - day};
  char out[40];
  std::snprintf(out, sizeof out, "%04d-%02u-%02uT%02lld:%02lld:%02lld.%06lldZ",
                static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()), static_cast<long long>(tod.hours().count()),
                static_cast<long long>(tod.minutes().count()),
                static_cast<long long>(tod.seconds().count()),
                static_cast<long long>(tod.subseconds().count()));
  return out;
}

std::optional<list_request> parse_list_request(const std::map<std::string, std::string>& query,
                                               std::string& error) {
  static const std::array<const char*, 7> known{"user_id", "status", "channel", "since",
                                                "until",   "page",   "limit"};
  for (auto& [name, value] : query) {
    bool ok = false;
    for (auto* k : known) {
      ok = ok || name == k;
    }
    if (!ok) {
      error = "unknown query parameter " + in_quotes(name)
              + "; known: user_id, status, channel, since, until, page, limit";
      return std::nullopt;
    }
  }
  auto page = parse_page(query, error);
  if (!page) {
    return std::nullopt;
  }
  list_request r;
  r.page = page->page;
  r.limit = page->limit;
  if (r.page * r.limit > count_cap) {
    error = "query parameter 'page' reaches past the first " + std::to_string(count_cap)
            + " matches (page " + std::to_string(r.page) + " of " + std::to_string(r.limit)
            + "); narrow the list with 'since' and 'until' instead";
    return std::nullopt;
  }
  auto get = [&](const char* name) {
    auto i = query.find(name);
    return i == query.end() ? std::string{} : i->second;
  };
  auto given = [&](const char* name) { return query.count(name) != 0; };
  auto& f = r.filter;
  f.user_id = get("user_id");
  if (given("user_id") && !is_uuid(f.user_id)) {
    error = "query parameter 'user_id' must be a user id (a UUID), got " + in_quotes(f.user_id);
    return std::nullopt;
  }
  f.status = get("status");
  if (given("status")) {
    bool ok = false;
    for (auto* s : statuses) {
      ok = ok || f.status == s;
    }
    if (!ok) {
      error = "query parameter 'status' must be one of queued, scheduled, processing, sent, "
              "retrying, failed, skipped, dead, cancelled; got " + in_quotes(f.status);
      return std::nullopt;
    }
  }
  f.channel = get("channel");
  if (given("channel") && f.channel != "email" && f.channel != "push") {
    error = "query parameter 'channel' must be email or push, got " + in_quotes(f.channel);
    return std::nullopt;
  }
  std::optional<std::chrono::sys_time<std::chrono::microseconds>> since, until;
  for (auto* name : {"since", "until"}) {
    if (!given(name)) {
      continue;
    }
    auto t = parse_rfc3339(get(name));
    if (!t) {
      error = std::string{"query parameter '"} + name + "' must be an RFC 3339 timestamp "
              "(e.g. 2026-11-30T08:00:00Z), got " + in_quotes(get(name));
      return std::nullopt;
    }
    (std::string{name} == "since" ? since : until) = t;
    (std::string{name} == "since" ? f.since : f.until) = format_utc(*t);
  }
  if (since && until && *until <= *since) {
    error = "query parameter 'until' must be later than 'since'";
    return std::nullopt;
  }
  return r;
}

} // namespace herald
