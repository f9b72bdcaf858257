#pragma once

// The SQL that writes a batch of status events in one transaction: one multi-row upsert
// into `notifications` per round, each event appended to its row's `timeline` (with this
// node's name and the transaction's time). A `queued` event goes first even when the
// worker's events were written before it (the gateway records it after the confirm,
// asynchronously, so a fast worker can overtake it).
// An id appears at most once per round (PostgreSQL refuses to update one row twice in a
// statement), rounds keep arrival order, so the merge rule in the upsert sees the events
// of one notification in the order they came.

#include <functional>
#include <string>
#include <vector>

#include "actors/messaging/messages.hpp"

namespace herald {

using sql_quote = std::function<std::string(const std::string&)>;

std::vector<std::string> status_batch_statements(const std::vector<const status_event*>& events,
                                                 const std::string& node,
                                                 const sql_quote& quote);

} // namespace herald
