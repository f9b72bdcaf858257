#pragma once

// A confirmed publisher as an actor: an event-based front to one amqp::confirmed_publisher
// (its own I/O thread and connection in confirm mode), for services that must know a
// message is persisted before they ack the delivery it came from (retries, dead letters,
// replays).
//   (publish_atom, amqp::message) -> outcome   200 once the broker confirmed the message;
//       503 when it refused it, or the outcome is unknown (no connection, lost connection,
//       no confirm within amqp.confirm_timeout_ms): the message may or may not be stored.
// Every request is answered within about amqp.confirm_timeout_ms. The actor never blocks:
// the publisher's thread reports each outcome back to it as a message.

#include <caf/all.hpp>

#include "actors/messaging/messages.hpp"
#include "actors/node/node_context.hpp"
#include "adapters/amqp/connection.hpp"

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(herald::amqp::message)

namespace herald::messaging {

using publish_atom = caf::atom_constant<caf::atom("publish")>;

/// Spawns the publisher, listed in the registry as `name` (role `role`), declaring
/// `declare` on every connect.
caf::actor spawn_publisher(node_context& ctx, const std::string& name, const std::string& role,
                           amqp::topology declare);

} // namespace herald::messaging
