#pragma once

// The query of GET /api/v1/notifications, validated: every mistake is a 400 naming the
// parameter, and an unknown parameter is refused (a misspelt filter must not silently
// list everything).
//
//   user_id   a UUID
//   status    queued, scheduled, processing, sent, retrying, failed, skipped, dead, cancelled
//   channel   email or push
//   since     RFC 3339; created_at >= since
//   until     RFC 3339; created_at < until (later than since)
//   page      from 1; limit 1-100 (20): rest::parse_page, as every list
// A page must end within the first count_cap (10,000) matches: deeper pages are a 400
// naming `page` (narrow with since/until instead; see notification_list.hpp).

#include <map>
#include <optional>
#include <string>

#include "actors/notification_store/notification_list.hpp"

namespace herald {

struct list_request {
  notification_filter filter; ///< since/until normalised to UTC with microseconds
  std::int64_t page = 1;
  std::int64_t limit = 20;
};

std::optional<list_request> parse_list_request(const std::map<std::string, std::string>& query,
                                               std::string& error);

} // namespace herald
