#pragma once

// A consumer of one RabbitMQ queue: an event-based actor that owns an amqp::consumer (its
// own I/O thread and connection), with manual acks and a bounded prefetch. Each delivery
// goes to `worker` as (deliver_atom, queued_message), sent as this actor; the worker
// answers this consumer with (ack_atom, tag) once the message's outcome is safe, or
// (requeue_atom, tag) to have it delivered again. When the connection is lost the
// consumer quits with an error and its supervisor restarts it with backoff; unacknowledged
// messages go back to the queue (at-least-once: a worker may see a message again).

#include <caf/all.hpp>

#include "runtime/registry/registry.hpp"

namespace herald::messaging {

struct consumer_settings {
  std::string url;
  std::string queue;
  std::uint16_t prefetch = 100;
};

caf::behavior queue_consumer(caf::event_based_actor* self, consumer_settings s,
                             caf::actor worker, runtime::entry_ptr entry);

} // namespace herald::messaging
