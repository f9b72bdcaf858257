#pragma once

// dead_letter_store: the dead letters in notification_db (table dead_letters), behind a
// supervised pool of detached workers, one PostgreSQL connection each.
//
//   (dl_store_atom, std::vector<dead_letter_in>) -> outcome
//       In one transaction: each dead letter stored (one already open for the same
//       notification is kept and the new one ignored, so a redelivered dead letter is
//       stored once) and its notification marked `dead` (status, attempts, last_error,
//       timeline; `sent` and `skipped` are kept). 200 once committed; 503 otherwise.
//   (dl_list_atom, reason, channel, page, limit) -> (outcome, json text)
//       {"items": [...], "total": N}, newest first; "" filters nothing.
//   (dl_get_atom, id) -> (outcome, json text)     404 for an unknown id
//   (dl_claim_atom, id) -> (outcome, replay_item)
//       Claims a dead letter for a replay, in one transaction: 404 unknown; 409 when it was
//       replayed already or its notification is no longer `dead`; 422 for an unreadable
//       message. Else it is marked replayed and its notification `queued` again with
//       attempts 0 (timeline: "replayed from dead letter <id>"), and returned.
//   (dl_claim_many_atom, reason, channel, limit) -> (outcome, std::vector<replay_item>)
//       The same for up to `limit` open dead letters matching the filter, oldest first
//       (rows another replay holds are skipped).
//   (dl_unclaim_atom, std::vector<replay_item>, why) -> outcome
//       Undoes claims whose message could not be published: the dead letter open again,
//       its notification `dead` again (timeline: "replay not published: <why>").
//
// Every JSON dead letter: id, notification_id, channel, reason, detail, attempts,
// correlation_id, created_at, replayed_at (null while open), replays, notification_status;
// dl_get_atom adds `message`, the original message (an object, or a string when it was not
// JSON).

#include <caf/all.hpp>

#include "actors/messaging/messages.hpp"
#include "actors/node/node_context.hpp"
#include "runtime/supervision/supervised_pool.hpp"

namespace herald {

using dl_store_atom = caf::atom_constant<caf::atom("dlstore")>;
using dl_list_atom = caf::atom_constant<caf::atom("dllist")>;
using dl_get_atom = caf::atom_constant<caf::atom("dlget")>;
using dl_claim_atom = caf::atom_constant<caf::atom("dlclaim")>;
using dl_claim_many_atom = caf::atom_constant<caf::atom("dlclaimall")>;
using dl_unclaim_atom = caf::atom_constant<caf::atom("dlunclaim")>;

/// A message taken from failed.queue, to be stored.
struct dead_letter_in {
  std::string id;              ///< a fresh UUID
  std::string notification_id; ///< "" when the message is unreadable
  std::string channel;
  std::string reason;
  std::string detail;
  int attempts = 0;
  std::string correlation_id;
  std::string message;         ///< the body as queued
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, dead_letter_in& x) {
  return f(caf::meta::type_name("dead_letter_in"), x.id, x.notification_id, x.channel,
           x.reason, x.detail, x.attempts, x.correlation_id, x.message);
}

/// A claimed dead letter: what a replay publishes.
struct replay_item {
  std::string id;
  std::string notification_id;
  std::string channel;
  std::string correlation_id;
  std::string message;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, replay_item& x) {
  return f(caf::meta::type_name("replay_item"), x.id, x.notification_id, x.channel,
           x.correlation_id, x.message);
}

/// Spawns the pool (pg.pool_size workers on pg.notification_db).
runtime::supervised_pool spawn_dead_letter_store(node_context& ctx);

} // namespace herald
