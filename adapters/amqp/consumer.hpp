#pragma once

// Consuming one queue on a dedicated I/O thread that owns one connection: manual acks,
// bounded prefetch. The thread sleeps in poll() until the broker sends deliveries or the
// owner settles some, so an idle consumer costs nothing and a busy one reads every
// buffered delivery in one go and writes a batch of acks in one go.
//
// Deliveries are handed to `on_deliveries` on the I/O thread, which must not block (hand
// them on, e.g. to an actor): every delivery read in one wake-up comes in one call, so a
// busy consumer hands on batches (at most `prefetch` deliveries) and an idle one single
// deliveries without waiting. The owner settles each one exactly once with ack() or
// reject(), from any thread, one tag or many at a time. When the connection cannot be opened or is lost, `on_lost`
// is called once (on the I/O thread) and the consumer does nothing more: the owner
// replaces it (its supervisor's restart is the reconnect policy). Unsettled deliveries
// of a lost connection go back to the queue — at-least-once, a message may come again.

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

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
  /// Called on the I/O thread with every delivery read in one wake-up (never empty).
  using delivery_fn = std::function<void(std::vector<delivery>&&)>;
  using lost_fn = std::function<void(const std::string& why)>;

  /// Starts the I/O thread, which connects and starts consuming.
  consumer(consumer_settings s, delivery_fn on_delivery, lost_fn on_lost);
  /// Stops the thread without waiting for it: it closes its connection on its own, so a
  /// caller on an actor thread never blocks on the network.
  ~consumer();
  consumer(const consumer&) = delete;
  consumer& operator=(const consumer&) = delete;

  /// Thread-safe; never blocks on the network. Paused, the consumer is cancelled on the
  /// broker (basic.cancel): no more deliveries come, messages wait in the queue (for this
  /// node's next resume or another node's consumer), and the deliveries already handed on
  /// are still settled here as usual. Resumed, it consumes again (basic.consume). The
  /// latest call wins; a consumer starts resumed.
  void pause(bool paused);

  /// Thread-safe; never blocks on the network.
  void ack(std::uint64_t tag);
  /// Thread-safe; `requeue` puts the message back in the queue, else it is dropped.
  void reject(std::uint64_t tag, bool requeue);
  /// The same for many tags at once: one lock and one wake-up of the I/O thread, which
  /// writes them corked (a few TCP segments for the whole batch).
  void ack(const std::vector<std::uint64_t>& tags);
  void reject(const std::vector<std::uint64_t>& tags, bool requeue);

  const consumer_stats& stats() const;

private:
  struct shared;
  std::shared_ptr<shared> shared_;
};

} // namespace herald::amqp
