#pragma once

// notification_db: the status record of every notification and its timeline.
//
// status_writer — one detached actor per node owning one connection. Events are written in
// batches, one transaction per batch: every event that arrives while a batch is being
// written goes into the next one. A requester is answered `true` only after the
// transaction holding its event committed; while the database is down events are kept
// and retried, and requesters time out (so workers do not ack).
//   (record_atom, status_event) -> bool
// Terminal statuses (sent, skipped, dead, failed) are never overwritten by queued or
// processing, whatever order events arrive in.
//
// notification_reader — a supervised pool of detached readers:
//   (read_atom, std::string id) -> (outcome, std::string json)

#include <caf/all.hpp>

#include "actors/messaging/messages.hpp"
#include "actors/node/node_context.hpp"
#include "runtime/supervision/supervised_pool.hpp"

namespace herald {

struct notification_store {
  runtime::supervised_pool writer;  ///< send to writer.pool
  runtime::supervised_pool readers;
};

notification_store spawn_notification_store(node_context& ctx);

} // namespace herald
