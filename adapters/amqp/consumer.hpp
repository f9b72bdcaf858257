#pragma once

// Consuming one queue on a dedicated I/O thread that owns one connection: manual acks,
// bounded prefetch. The thread sleeps in poll() until the broker sends deliveries or the
// owner settles some, so an idle consumer costs nothing and a busy one reads every
// buffered delivery in one go and writes a batch of acks in one go.
//
// Deliveries are handed to `on_delivery` on the I/O thread, which must not block (hand
// them on, e.g. to an actor). The owner settles each one exactly once with ack() or
// reject(), from any thread. When the connection cannot be opened or is lost, `on_lost`
// is called once (on the I/O thread) and the consumer does nothing more: the owner
// replaces it (its supervisor's restart is the reconnect policy). Unsettled deliveries
// of a lost connection go back to the queue — at-least-once, a message may come again.

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "adapters/amqp/connection.hpp"

namespace herald::amqp {

struct consumer_settings {
  std::string url;
  topology declare; ///< declared on connect
  std::string queue;
  std::uint16_t prefetch = 100;
};

/// Counters read by the owner for introspection.
struct consumer_stats {
  std::atomic<std::uint64_t> delivered{0};
  std::atomic<std::uint64_t> settled{0};
  std::atomic<bool> consuming{false};
};

class consumer {
public:
  using delivery_fn = std::function<void(delivery&&)>;
  using lost_fn = std::function<void(const std::string& why)>;

  /// Starts the I/O thread, which connects and starts consuming.
  consumer(consumer_settings s, delivery_fn on_delivery, lost_fn on_lost);
  /// Stops the thread without waiting for it: it closes its connection on its own, so a
  /// caller on an actor thread never blocks on the network.
  ~consumer();
  consumer(const consumer&) = delete;
  consumer& operator=(const consumer&) = delete;

  /// Thread-safe; never blocks on the network.
  void ack(std::uint64_t tag);
  /// Thread-safe; `requeue` puts the message back in the queue, else it is dropped.
  void reject(std::uint64_t tag, bool requeue);

  const consumer_stats& stats() const;

private:
  struct shared;
  std::shared_ptr<shared> shared_;
};

} // namespace herald::amqp
