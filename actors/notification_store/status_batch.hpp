#pragma once

// The SQL that writes a batch of status events in one transaction, as one prepared
// statement whose parameters are arrays (one per column): an upsert into `notifications`
// per round, each event appended to its row's `timeline` (with this node's name and the
// transaction's time). The statement's text never changes, so PostgreSQL parses and plans
// it once per connection, not once per batch. An event's device_events (push: one entry
// per device) go into the timeline just before its own entry. A `queued` event goes first in the timeline
// even when the worker's events were written before it (the gateway records it after the
// confirm, asynchronously, so a fast worker can overtake it).
// An id appears at most once per round (PostgreSQL refuses to update one row twice in a
// statement); rounds keep arrival order, so the merge rule in the upsert sees the events
// of one notification in the order they came.

#include <pqxx/pqxx>

#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "actors/messaging/messages.hpp"

namespace herald {

/// Name and text of the prepared statement.
extern const char* const status_upsert_name;
extern const char* const status_upsert_sql; ///< $1..$11, $13: the columns of status_round
                                            ///< (the 12th is $13); $12 the node

/// The request_id backstop of the writers that insert notifications in batches (the
/// intake's queued records, the schedule store's scheduled ones) with "ON CONFLICT
/// (client_id, request_id) DO NOTHING RETURNING id": which rows went in, and for the
/// others the first notification that holds their request_id.
class request_id_backstop {
public:
  struct row {
    std::string id;
    std::string client_id;
    std::string request_id;
  };
  struct verdict {
    bool inserted = false;
    std::string existing_id; ///< "" when neither inserted nor found (released meanwhile)
    std::string existing_fingerprint;
  };

  /// In the insert's transaction, with the ids it returned: looks up, in one query, the
  /// request_ids of the `rows` that did not go in.
  void resolve(pqxx::work& tx, const pqxx::result& returned, const std::vector<row>& rows);
  verdict of(const row& r) const;

private:
  std::unordered_set<std::string> inserted_;
  std::unordered_map<std::string, std::pair<std::string, std::string>> taken_; ///< id, fp
};

/// One upsert's parameters: PostgreSQL array literals, in the order of status_upsert_sql.
struct status_round {
  std::vector<std::string> columns; ///< id, request_id, user_id, channel, template_code,
                                    ///< status, attempts, detail, correlation_id,
                                    ///< language, template_version, device_events
};

/// The upsert rounds of `events`, in order.
std::vector<status_round> status_batch_rounds(const std::vector<const status_event*>& events);

/// A PostgreSQL array literal of text values: {"a","b\"c"} (every element quoted, so
/// commas, braces, quotes, backslashes and the word NULL are plain data).
std::string pg_text_array(const std::vector<std::string>& values);

/// A PostgreSQL array literal of integers: {1,2,3}.
std::string pg_int_array(const std::vector<int>& values);

} // namespace herald
