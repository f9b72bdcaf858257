#pragma once

// A consumer of one RabbitMQ queue: an event-based actor that owns an amqp::consumer (its
// own I/O thread and connection), with manual acks and a bounded prefetch.
//
// Deliveries go to `worker` in batches, sent as this actor: every delivery the I/O thread
// read in one wake-up comes as one (deliver_atom, std::vector<queued_message>), so a busy
// queue costs one message per batch, not per delivery. The worker settles each delivery
// exactly once by answering this consumer, one tag or many at a time:
//   (ack_atom, std::uint64_t tag)      (ack_atom, std::vector<std::uint64_t> tags)
//   (requeue_atom, std::uint64_t tag)  (requeue_atom, std::vector<std::uint64_t> tags)
// once the message's outcome is safe, or to have it delivered again. Acks of a batch are
// written corked, together. At most `prefetch` deliveries are unsettled at once.
//
// The worker may stop the flow: (pause_atom) cancels the consumer on the broker, so
// further messages wait in the queue, while deliveries already handed on are still
// settled as above; (resume_atom) consumes again. A restarted consumer starts resumed.
//
// When the connection is lost the consumer quits with an error and its supervisor
// restarts it with backoff; unacknowledged messages go back to the queue (at-least-once:
// a worker may see a message again, flagged `redelivered`). Settlements sent to a
// consumer that has quit are dropped: their tags belonged to the lost connection.

#include <caf/all.hpp>

#include "actors/messaging/topology.hpp"
#include "runtime/registry/registry.hpp"

namespace herald::messaging {

struct consumer_settings {
  std::string url;
  std::string queue;
  std::uint16_t prefetch = 100;
  amqp::topology declare = topology(); ///< declared on connect
};

caf::behavior queue_consumer(caf::event_based_actor* self, consumer_settings s,
                             caf::actor worker, runtime::entry_ptr entry);

} // namespace herald::messaging
