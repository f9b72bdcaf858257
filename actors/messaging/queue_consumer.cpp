#include "actors/messaging/queue_consumer.hpp"

#include <memory>

#include "actors/messaging/messages.hpp"
#include "actors/messaging/topology.hpp"
#include "runtime/logging/log.hpp"

namespace herald::messaging {

caf::behavior queue_consumer(caf::event_based_actor* self, consumer_settings s,
                             caf::actor worker, runtime::entry_ptr entry) {
  log::context who{"", entry->name(), {}};
  auto conn = std::make_shared<amqp::connection>(s.url);
  // Connects on the first poll, not here: a detached actor that quits while it is being
  // spawned is never accounted as finished by CAF 0.17, which then hangs at shutdown.
  auto connect = [=]() -> bool {
    auto err = conn->open();
    if (err.empty()) {
      err = conn->declare(topology());
    }
    if (err.empty()) {
      err = conn->set_prefetch(s.prefetch);
    }
    if (err.empty()) {
      err = conn->consume(s.queue);
    }
    if (!err.empty()) {
      entry->set_state("disconnected");
      log::warn(who, "cannot consume", {{"queue", s.queue}, {"error", err}});
      self->quit(caf::make_error(caf::sec::runtime_error, err));
      return false;
    }
    entry->set_state("consuming " + s.queue);
    log::info(who, "consuming", {{"queue", s.queue}});
    return true;
  };
  auto in_flight = std::make_shared<std::int64_t>(0);
  auto lost = [=] {
    entry->set_state("disconnected");
    log::warn(who, "connection lost", {{"error", conn->last_error()}});
    self->quit(caf::make_error(caf::sec::runtime_error, conn->last_error()));
  };
  // While the prefetch window is full the broker sends nothing, so the consumer stops
  // polling and the next ack starts it again.
  auto polling = std::make_shared<bool>(true);
  auto settle = [=](std::uint64_t, const std::string& error) {
    *in_flight -= 1;
    entry->in_flight = *in_flight;
    entry->processed += 1;
    if (!error.empty()) {
      lost();
      return;
    }
    if (!*polling) {
      *polling = true;
      self->send(self, poll_atom::value);
    }
  };
  self->send(self, poll_atom::value);
  return {
    [=](poll_atom) {
      if (!conn->is_open() && !connect()) {
        return;
      }
      // Take what is buffered without waiting; wait briefly only when idle, so that acks
      // queued behind this poll are not held up.
      int taken = 0;
      for (; taken < 64; ++taken) {
        auto wait = taken == 0 && *in_flight == 0 ? std::chrono::milliseconds{50}
                    : taken == 0                  ? std::chrono::milliseconds{1}
                                                  : std::chrono::milliseconds{0};
        auto d = conn->next_delivery(wait);
        if (!d) {
          break;
        }
        *in_flight += 1;
        self->send(worker, deliver_atom::value,
                   queued_message{d->tag, d->redelivered, std::move(d->body),
                                  std::move(d->correlation_id)});
      }
      entry->in_flight = *in_flight;
      if (!conn->is_open()) {
        lost();
        return;
      }
      if (*in_flight >= s.prefetch) {
        *polling = false;
        return;
      }
      self->send(self, poll_atom::value);
    },
    [=](ack_atom, std::uint64_t tag) { settle(tag, conn->ack(tag)); },
    [=](requeue_atom, std::uint64_t tag) { settle(tag, conn->reject(tag, true)); },
  };
}

} // namespace herald::messaging
