#pragma once

// scheduler: publishes the scheduled sends of notification_db (schedule_store.hpp) when they
// are due. One per gateway node: a detached actor (it blocks on libpqxx and waits for
// confirms; never on CAF's cooperative threads) in a supervised pool of one, restarted with
// supervision.* backoff after a crash. Every scheduler.poll_ms (≤ 500 ms) it runs one
// transaction:
//   1. claims up to scheduler.batch_max pending rows whose send_at has come, oldest first,
//      with FOR UPDATE SKIP LOCKED — several gateway nodes share the work, a row is never
//      claimed by two — and locks their notifications (FOR UPDATE), so no status event of
//      the message about to go out can be written before this transaction commits;
//   2. publishes each message to notifications.direct as the gateway would have (routing
//      key, body, headers, message and correlation id; plus the header x-herald-scheduled),
//      persistent, with publisher confirms (its own connection), and waits for every
//      confirm (amqp.confirm_timeout_ms);
//   3. marks the confirmed rows published and their notifications `queued`, with a
//      timeline entry ("scheduled send published, due T"); unconfirmed rows stay pending
//      and go again at the next poll;
//   4. commits (synchronously). When it claimed a full batch, it polls again at once.
// So delivery starts within about poll_ms of send_at (plus the senders' own time).
//
// Guarantees: nothing about a pending send lives in memory; a restart of every process
// loses none. At least once: a scheduler that dies between a confirm and its commit (or
// whose confirm was lost) leaves the row pending, and it is published again. The copy
// carries x-herald-scheduled, so the senders treat it as a redelivery and check the
// notification's status first: a copy whose notification is already sent, or cancelled,
// is acked without sending (messaging/notification_job.hpp). What remains is the senders'
// own window (two copies worked on at once on two nodes before either recorded `sent`).
// A cancel (DELETE) waits for a claiming transaction and then sees the row published: 409.
//
// Registry entry "scheduler/0": processed (messages published), failed (publishes not
// confirmed), counters polls, claimed; state running | waiting for database | waiting for
// broker.

#include "actors/node/node_context.hpp"
#include "runtime/supervision/supervised_pool.hpp"

namespace herald {

runtime::supervised_pool spawn_scheduler(node_context& ctx);

} // namespace herald
