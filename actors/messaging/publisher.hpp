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
//
// Reconnecting: the I/O thread opens its connection when a publish needs one, at most once
// per reconnect interval, and fails what is pending when it is lost (adapters/amqp/
// confirmed_publisher.hpp). That is not a retry loop: no publish is ever retried; each
// fails with 503 and its requester decides (the gateway answers 503, a worker requeues
// the delivery). It is kept rather than crash-and-restart because a publisher that
// crashed on each lost connection would turn a broker outage into restarts past the
// intensity, and escalate the node, while the gateway must keep answering 503.

#include <caf/all.hpp>

#include <chrono>
#include <functional>
#include <string>

#include "actors/messaging/messages.hpp"
#include "actors/node/node_context.hpp"
#include "adapters/amqp/connection.hpp"
#include "runtime/logging/log.hpp"

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(herald::amqp::message)

namespace herald::messaging {

using publish_atom = caf::atom_constant<caf::atom("publish")>;

/// Spawns the publisher, listed in the registry as `name` (role `role`), declaring
/// `declare` on every connect.
caf::actor spawn_publisher(node_context& ctx, const std::string& name, const std::string& role,
                           amqp::topology declare);

/// For a publisher that is a child of a supervisor: a function spawning one, listed on the
/// entry it is given, each time it is called (settings are read now).
std::function<caf::actor(caf::actor_system&, runtime::entry_ptr)>
publisher_factory(const config::settings& settings, amqp::topology declare);

/// A channel's sender met a delivery it cannot read (queued_message, parse_notification_job
/// refused it with `why`): it would never become readable, so it is logged, dead-lettered
/// as it is (failed.queue, reason unreadable, through `publisher`) and acked to
/// `consumer` once confirmed, then `dead_lettered` is called; unconfirmed, it is requeued
/// `requeue_delay` later. Never blocks.
void dead_letter_unreadable(caf::event_based_actor* self, const caf::actor& publisher,
                            std::chrono::milliseconds publish_timeout,
                            const caf::actor& consumer, const queued_message& m,
                            const std::string& why, const log::context& who,
                            std::chrono::milliseconds requeue_delay,
                            std::function<void()> dead_lettered);

} // namespace herald::messaging
