#pragma once

// The SQL that writes a batch of status events in one transaction, as two prepared
// statements whose parameters are arrays (one per column): an upsert into `notifications`
// per round, and one insert into `notification_events`. The statements' text never
// changes, so PostgreSQL parses and plans them once per connection, not once per batch.
// An id appears at most once per round (PostgreSQL refuses to update one row twice in a
// statement); rounds keep arrival order, so the merge rule in the upsert sees the events
// of one notification in the order they came.

#include <string>
#include <vector>

#include "actors/messaging/messages.hpp"

namespace herald {

/// Names and text of the two prepared statements.
extern const char* const status_upsert_name;
extern const char* const status_upsert_sql;   ///< $1..$11: the columns of status_round
extern const char* const status_timeline_name;
extern const char* const status_timeline_sql; ///< $1 ids, $2 statuses, $3 details, $4 node

/// One upsert's parameters: PostgreSQL array literals, in the order of status_upsert_sql.
struct status_round {
  std::vector<std::string> columns; ///< id, request_id, user_id, channel, template_code,
                                    ///< status, attempts, detail, correlation_id,
                                    ///< language, template_version
};

/// The upsert rounds of `events`, in order.
std::vector<status_round> status_batch_rounds(const std::vector<const status_event*>& events);

/// The timeline insert's first three parameters (ids, statuses, details), in arrival order.
std::vector<std::string> status_timeline_columns(const std::vector<const status_event*>& events);

/// A PostgreSQL array literal of text values: {"a","b\"c"} (every element quoted, so
/// commas, braces, quotes, backslashes and the word NULL are plain data).
std::string pg_text_array(const std::vector<std::string>& values);

/// A PostgreSQL array literal of integers: {1,2,3}.
std::string pg_int_array(const std::vector<int>& values);

} // namespace herald
