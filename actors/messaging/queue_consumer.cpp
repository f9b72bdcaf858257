#include "actors/messaging/queue_consumer.hpp"

#include <memory>
#include <vector>

#include "actors/messaging/messages.hpp"
#include "actors/messaging/topology.hpp"
#include "adapters/amqp/consumer.hpp"
#include "runtime/logging/log.hpp"

namespace herald::messaging {

namespace {

using lost_atom = caf::atom_constant<caf::atom("lost")>;

} // namespace

caf::behavior queue_consumer(caf::event_based_actor* self, consumer_settings s,
                             caf::actor worker, runtime::entry_ptr entry) {
  log::context who{"", entry->name(), {}};
  entry->in_flight = 0; // an earlier incarnation's deliveries went back to the queue
  auto me = caf::actor_cast<caf::actor>(self);
  auto io = std::make_shared<amqp::consumer>(
    amqp::consumer_settings{s.url, s.declare, s.queue, s.prefetch},
    [me, worker, entry](std::vector<amqp::delivery>&& batch) {
      entry->in_flight += static_cast<std::int64_t>(batch.size());
      std::vector<queued_message> messages;
      messages.reserve(batch.size());
      for (auto& d : batch) {
        messages.push_back(
          {d.tag, d.redelivered, std::move(d.body), std::move(d.correlation_id),
           std::move(d.routing_key), std::move(d.headers)});
      }
      caf::send_as(me, worker, deliver_atom::value, std::move(messages));
    },
    [me](const std::string& why) { caf::anon_send(me, lost_atom::value, why); });
  // The I/O thread holds a handle to this actor until the consumer is destroyed, which
  // happens when the actor quits (the functor below drops the last reference).
  self->attach_functor([io]() mutable { io.reset(); });
  entry->set_state("consuming " + s.queue);
  auto settled = [entry](std::size_t n) {
    entry->in_flight -= static_cast<std::int64_t>(n);
    entry->processed += n;
  };
  return {
    [=](ack_atom, std::uint64_t tag) {
      io->ack(tag);
      settled(1);
    },
    [=](requeue_atom, std::uint64_t tag) {
      io->reject(tag, true);
      settled(1);
    },
    [=](ack_atom, const std::vector<std::uint64_t>& tags) {
      io->ack(tags);
      settled(tags.size());
    },
    [=](requeue_atom, const std::vector<std::uint64_t>& tags) {
      io->reject(tags, true);
      settled(tags.size());
    },
    [=](pause_atom) {
      io->pause(true);
      entry->set_state("paused " + s.queue);
    },
    [=](resume_atom) {
      io->pause(false);
      entry->set_state("consuming " + s.queue);
    },
    [=](lost_atom, const std::string& why) {
      entry->set_state("disconnected");
      log::warn(who, "connection lost", {{"queue", s.queue}, {"error", why}});
      self->quit(caf::make_error(caf::sec::runtime_error, why));
    },
  };
}

} // namespace herald::messaging
