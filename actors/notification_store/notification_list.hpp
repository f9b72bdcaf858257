#pragma once

// One page of notifications, newest first, for GET /api/v1/notifications.
//
// The filters are equalities on user_id, status and channel and a range on created_at
// (since inclusive, until exclusive); each present filter adds its condition, an absent
// one adds nothing, so every shape is planned for what it asks (no `$1 IS NULL OR ...`,
// which defeats the indexes). Order: created_at DESC, id DESC (a total order, so pages
// never overlap or skip). Every shape is served by one of migration 0007's indexes
// ((created_at, id), and (user_id | status | channel, created_at, id)): an index scan
// that stops after offset + limit rows, never a sequential scan (a test holds the plans
// of all 32 shapes to that over a million rows).
//
// The count is bounded too: `count_cap` rows at most are counted (a LIMITed subquery on
// the same index), so `total` costs at most that many index entries whatever the table
// holds. Past it, the total is reported as the cap and `capped` is set; pages end at the
// cap as well (the gateway refuses offset + limit beyond it), so a client narrows with
// since/until instead of paging through a million rows by OFFSET.
//
// Blocking (libpqxx): runs on a notification_reader, a detached actor.

#include <pqxx/pqxx>

#include <cstdint>
#include <string>
#include <vector>

namespace herald {

/// What a list asks; empty strings are absent filters. since/until are timestamps
/// PostgreSQL reads as timestamptz (the gateway checked and normalised them).
struct notification_filter {
  std::string user_id;
  std::string status;
  std::string channel;
  std::string since; ///< created_at >= since
  std::string until; ///< created_at < until
};

/// How many matches are counted at most.
inline constexpr std::int64_t count_cap = 10000;

/// The SELECT of one page: the filter's conditions as $1..$n in the order user_id, status,
/// channel, since, until (present ones only), then LIMIT $n+1 OFFSET $n+2.
std::string list_sql(const notification_filter& f);

/// The bounded count: at most count_cap + 1, with the same parameters as list_sql's
/// conditions (no LIMIT/OFFSET parameters).
std::string count_sql(const notification_filter& f);

/// The filter's present values, in list_sql's order.
std::vector<std::string> filter_params(const notification_filter& f);

struct notification_page {
  std::string items_json; ///< a JSON array of notification summaries (no timeline)
  std::int64_t total = 0; ///< at most count_cap
  bool capped = false;    ///< more than count_cap match
};

/// Runs both queries in `tx`.
notification_page list_notifications(pqxx::work& tx, const notification_filter& f,
                                     std::int64_t offset, std::int64_t limit);

} // namespace herald
