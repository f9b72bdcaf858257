#pragma once

// dead_letter: the service of role `dlq`. It consumes failed.queue, where workers publish
// (with confirms) every message they give up on, with why in headers (x-herald-reason,
// x-herald-detail, x-herald-attempts, x-herald-channel; actors/messaging/topology.hpp).
//
// The tree (runtime/supervision/supervisor.hpp), one root of the node:
//
//   dlq/supervisor
//   |-- dead_letter                        the event-based intake (restart_dependants)
//   `-- dead_letter_consumer/supervisor    pool: dead_letter_consumer/0 (its own connection)
//
// The consumer delivers to the intake's front; the intake stores through the node's
// dead_letter_store pool (shared with the gateway's routes, outside the tree). A crashed
// intake restarts with its consumer (rest-for-one), which drops its connection so its
// unsettled deliveries come back; stopping stops the consumer first.
// Each batch of deliveries is stored in one transaction that also marks each
// notification `dead` (status record and timeline); only once that committed are the
// deliveries acked. A store that fails (PostgreSQL down) requeues the batch after
// email.requeue_delay_ms; a dead letter delivered twice is stored once (at most one open
// dead letter per notification). A message without Herald's headers is stored with
// reason `unknown`.
//
// On the gateway's port (add_dead_letter_routes; the node adds them where the gateway
// runs, whether or not this node runs `dlq`):
//   GET  /api/v1/dead-letters?reason=&channel=&page=&limit=   newest first, meta as every list
//   GET  /api/v1/dead-letters/{id}                            with the original message
//   POST /api/v1/dead-letters/{id}/replay                     200 replayed; 404; 409 no
//        longer dead (replayed already, or its notification is not `dead`); 422 unreadable;
//        503 when PostgreSQL or RabbitMQ is down (nothing changed then)
//   POST /api/v1/dead-letters/replay  {"reason", "channel", "limit" (1-1000, 100)}
// A replay claims the dead letter (marked replayed, the notification `queued` with
// attempts 0) in one transaction, then publishes the original message to its channel's
// queue with confirms and x-herald-attempt 1; a publish that is not confirmed undoes the
// claim (dead again, 503 / counted as not replayed).

#include <caf/all.hpp>

#include "actors/common/access.hpp"
#include "actors/node/node_context.hpp"
#include "adapters/http/server.hpp"
#include "runtime/supervision/supervisor.hpp"

namespace herald {

struct dead_letter_service {
  runtime::supervisor_handle tree; ///< the node's root for role dlq
};

/// Role `dlq`: consumes failed.queue into `store` (spawn_dead_letter_store).
dead_letter_service spawn_dead_letter_service(node_context& ctx, caf::actor store);

/// The REST routes above on `server`; replays are published through `publisher`
/// (messaging::spawn_publisher).
/// Each route admitted by `gate` (reading: notifications:read; replaying:
/// notifications:write).
void add_dead_letter_routes(http::server& server, node_context& ctx,
                            std::shared_ptr<const access::gate> gate, caf::actor store,
                            caf::actor publisher);

/// The routes with their credentials, for the README's table.
std::vector<access::route_row> dead_letter_route_rules();

} // namespace herald
