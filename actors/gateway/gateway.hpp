#pragma once

// gateway: the public REST API on port 8000. POST /api/v1/notifications/ validates the
// body, checks it against the user and the template (directory.hpp: 404 for an unknown
// user, template or version; 422 when the template is for the other channel or a declared
// variable is missing), pins the template version and language the worker will render,
// and publishes the notification to notifications.direct; it answers 202 only once
// RabbitMQ has confirmed the message as persisted, and 503 when the broker (or a lookup)
// is down or does not answer in time (the client may retry). Publishing is group-committed
// over `amqp.publishers` connections: many requests' messages are in flight at once and
// each answer waits for its own confirm only.
//
// Credentials (actors/common/access.hpp; the route table is in gateway.cpp): sending
// needs an API key with notifications:write, or a user's login token for a notification
// to that very user; reading a notification needs notifications:read, or the login token
// of the user it was sent to (403 for another user's). Introspection needs
// introspection:read.
//
// The `queued` status record is written asynchronously after the confirm, in a batch; a
// GET right after the 202 may briefly answer 404.

#include <memory>
#include <vector>

#include "actors/common/access.hpp"
#include "actors/node/node_context.hpp"
#include "adapters/http/server.hpp"

namespace herald {

class gateway {
public:
  /// `users` and `templates` answer lookups (user_lookup.hpp, template_cache.hpp).
  gateway(node_context& ctx, caf::actor status_writer, caf::actor notification_reader,
          caf::actor users, caf::actor templates);

  void add_routes(http::server& server, std::shared_ptr<const access::gate> gate);

  /// The routes with their credentials, for the README's table.
  static std::vector<access::route_row> route_rules();

private:
  /// Everything the handlers use. Shared with the lookups in flight: their answers come
  /// on actor threads, possibly after the node dropped the gateway (a stop under load).
  struct core;
  std::shared_ptr<core> core_;
};

} // namespace herald
