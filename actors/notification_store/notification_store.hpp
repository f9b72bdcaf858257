#pragma once

// notification_db: the status record of every notification and its timeline.
//
// status_writer — one detached actor per node owning one connection. Events are written in
// batches, one transaction per batch (group commit): every event that arrives while a
// batch is being written goes into the next one, up to status.batch_max events (a
// request's events are never split across transactions). A requester is answered `true`
// only after the transaction holding its events committed — durably: commits are
// synchronous, since a worker acks its message on this answer. While the database is
// down events are kept and retried, and requesters time out (so workers do not ack).
//   (record_atom, status_event) -> bool
//   (record_many_atom, std::vector<status_event>) -> bool   true: all of them committed;
//       false when one has no UUID id or the database refused the batch as data
// Terminal statuses (sent, skipped, dead, failed) are never overwritten by queued,
// processing or retrying, and dead not by failed (the dead-letter service may commit
// `dead` before the worker that dead-lettered the message commits `failed`), whatever
// order events arrive in. Only a replay (dead_letter_store) turns dead back to queued.
//   (statuses_atom, std::vector<std::string> ids) -> (outcome, std::vector<std::string>)
//       the current status of each notification ("" when unknown), in the order asked;
//       503 when the database is down. Events this writer received before the question
//       are committed first, so the answer reflects them.
//
// notification_reader — a supervised pool of detached readers:
//   (read_atom, std::string id) -> (outcome, std::string json)
//   (list_notifications_atom, user_id, status, channel, since, until, std::int64_t offset,
//    std::int64_t limit) -> (outcome, std::string items_json, std::int64_t total, bool capped)
//       one page, newest first (notification_list.hpp; "" for an absent filter); 503 when
//       the database is down

#include <caf/all.hpp>

#include "actors/messaging/messages.hpp"
#include "actors/node/node_context.hpp"
#include "runtime/supervision/supervised_pool.hpp"

namespace herald {

using record_many_atom = caf::atom_constant<caf::atom("recordmany")>;
using statuses_atom = caf::atom_constant<caf::atom("statuses")>;
using list_notifications_atom = caf::atom_constant<caf::atom("nlist")>;

struct notification_store {
  runtime::supervised_pool writer;  ///< send to writer.pool
  runtime::supervised_pool readers;
};

notification_store spawn_notification_store(node_context& ctx);

} // namespace herald
