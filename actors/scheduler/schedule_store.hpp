#pragma once

// schedule_store: the scheduled sends of notification_db (migration 0006) as the gateway and
// the senders write them. A supervised pool of detached actors, each owning one PostgreSQL
// connection (libpqxx blocks); every write is one transaction committed durably
// (synchronous_commit on, whatever the server's default): a scheduled send is held by
// nothing else until it is due — not by RabbitMQ, not in memory — so its 202, or the ack of
// the message it defers, comes only after that commit. The scheduler (scheduler.hpp)
// publishes the rows when they are due.
//
//   (schedule_atom, scheduled_intake) -> (outcome, std::string id, std::string fingerprint)
//       the gateway's scheduled request: its notification row (status `scheduled`,
//       send_at, a timeline entry) and its scheduled send in one transaction. 201 written;
//       200 when (client_id, request_id) was taken already (the request_id backstop, as
//       for queued ones): `id` and `fingerprint` are the first notification's; 503 when the
//       database is down or failed (nothing written).
//   (schedule_many_atom, std::vector<scheduled_intake>)
//       -> (outcome, std::vector<std::string> ids, std::vector<std::string> fingerprints)
//       a bulk request's scheduled items (bulk.hpp): every notification row and scheduled
//       send in ONE transaction, one INSERT .. SELECT FROM unnest(..) .. ON CONFLICT DO
//       NOTHING over arrays, then one SELECT for the request_ids that were taken. 201 once
//       committed, with ids[i] and fingerprints[i] per intake, in order: its own id when
//       written; the first notification's id and fingerprint when (client_id, request_id)
//       was taken; "" when neither (released meanwhile: the caller answers 503). 503 when
//       the database is down or failed (nothing written, both vectors empty).
//   (defer_atom, std::vector<scheduled_send>) -> bool
//       a sender's deferral (quiet hours): each message becomes a pending scheduled send
//       (again, if it was one before) and its notification `scheduled` with a timeline
//       entry ("quiet hours until T"), all in one transaction. true once committed.
//   (cancel_atom, std::string id, std::string user_id) -> outcome
//       DELETE /api/v1/notifications/{id}: `scheduled` becomes `cancelled` (timeline entry)
//       and its scheduled send will never be published. 200; 404 unknown id (or no UUID);
//       403 when `user_id` is not "" and not the notification's user; 409 naming the status
//       when it is not scheduled (any more); 503. Atomic against the scheduler: the cancel
//       updates the scheduled send only while it is pending, and a row the scheduler has
//       claimed (FOR UPDATE) makes that update wait for the scheduler's commit and then
//       find it published: a 409, never a cancelled notification that is delivered.
//
// The pool's front is registered in the actor system's registry as `schedules_name`, so
// the senders' deferral (quiet_hours_deferral.hpp) finds it without a handle passed down.

#include <caf/all.hpp>

#include <string>
#include <vector>

#include "actors/node/node_context.hpp"
#include "actors/scheduler/scheduled_send.hpp"
#include "runtime/supervision/supervised_pool.hpp"

namespace herald {

using schedule_atom = caf::atom_constant<caf::atom("schedule")>;
using schedule_many_atom = caf::atom_constant<caf::atom("schedmany")>;
using defer_atom = caf::atom_constant<caf::atom("defer")>;
using cancel_atom = caf::atom_constant<caf::atom("cancel")>;

/// The registry name of the schedule store's pool.
inline constexpr caf::atom_value schedules_name = caf::atom("schedules");

/// Spawns the pool (pg.pool_size workers, at least one) and registers its front.
runtime::supervised_pool spawn_schedule_store(node_context& ctx);

} // namespace herald
