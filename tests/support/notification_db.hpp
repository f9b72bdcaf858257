#pragma once

// Reads notification_db straight from PostgreSQL with libpqxx, bypassing Herald: for tests
// that assert what was committed, not what an API answers (or while Herald's reads are
// down). One short-lived connection per call.

#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <vector>

namespace herald::test {

/// The libpq URI of the test servers' notification_db.
std::string notification_db_url();

/// A notification's row as committed.
struct notification_row {
  bool found = false;
  std::string status;
  int attempts = 0;
  nlohmann::json timeline = nlohmann::json::array(); ///< [{status, detail, node, at}, ...]

  /// The statuses of the timeline, in order.
  std::vector<std::string> timeline_statuses() const;
};

/// The row of notification `id` (found false when there is none).
notification_row read_notification_row(const std::string& id);

/// The timeline entries of notification `id` with status "device" (push: one per device).
std::vector<nlohmann::json> device_entries(const std::string& id);

/// The committed status of each of `ids` that has a row.
std::map<std::string, std::string> read_statuses(const std::vector<std::string>& ids);

} // namespace herald::test
