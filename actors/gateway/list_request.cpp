#include "actors/gateway/list_request.hpp"

#include <array>

#include "actors/common/ids.hpp"
#include "actors/common/rest.hpp"
#include "runtime/time/rfc3339.hpp"

namespace herald {

namespace {

constexpr std::array<const char*, 9> statuses{"queued", "scheduled", "processing",
                                              "sent",   "retrying",  "failed",
                                              "skipped", "dead",     "cancelled"};

std::string in_quotes(const std::string& v) {
  return "'" + v.substr(0, 64) + (v.size() > 64 ? "...'" : "'");
}

} // namespace

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
  auto page = rest::parse_page(query, error);
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
  std::optional<time::precise_instant> since, until;
  for (auto* name : {"since", "until"}) {
    if (!given(name)) {
      continue;
    }
    auto t = time::parse_rfc3339_us(get(name));
    if (!t) {
      error = std::string{"query parameter '"} + name + "' must be an RFC 3339 timestamp "
              "(e.g. 2026-11-30T08:00:00Z), got " + in_quotes(get(name));
      return std::nullopt;
    }
    (std::string{name} == "since" ? since : until) = t;
    (std::string{name} == "since" ? f.since : f.until) = time::format_rfc3339_us(*t);
  }
  if (since && until && *until <= *since) {
    error = "query parameter 'until' must be later than 'since'";
    return std::nullopt;
  }
  return r;
}

} // namespace herald
