#pragma once

// gateway: the public REST API on port 8000. POST /api/v1/notifications/ validates the
// body and publishes the notification to notifications.direct; it answers 202 only once
// RabbitMQ has confirmed the message as persisted, and 503 when the broker is down or does
// not confirm in time (the client may retry). Publishing is group-committed over
// `amqp.publishers` connections: many requests' messages are in flight at once and each
// answer waits for its own confirm only.
//
// The `queued` status record is written asynchronously after the confirm, in a batch; a
// GET right after the 202 may briefly answer 404.

#include <memory>
#include <vector>

#include "actors/node/node_context.hpp"
#include "adapters/amqp/confirmed_publisher.hpp"
#include "adapters/http/server.hpp"

namespace herald {

class gateway {
public:
  gateway(node_context& ctx, caf::actor status_writer, caf::actor notification_reader);

  void add_routes(http::server& server);

  /// True while at least one publisher holds an open connection.
  bool broker_connected() const;

private:
  amqp::confirmed_publisher& next_publisher();

  node_context& ctx_;
  caf::actor status_writer_;
  caf::actor reader_;
  std::vector<std::unique_ptr<amqp::confirmed_publisher>> publishers_;
  std::vector<runtime::entry_ptr> entries_;
  std::atomic<std::size_t> next_{0};
};

} // namespace herald
