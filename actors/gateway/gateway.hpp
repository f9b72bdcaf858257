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
// Authentication: `Authorization: Bearer <JWT>` (HS256 with jwt.secret, as the users
// service's login issues). A token that is presented is always verified (alg other than
// HS256, a bad signature, expiry: 401 naming the reason). Whether a request without one is
// refused is `auth.required` (default false until API keys land; /health and /metrics
// never need one).
//
// The `queued` status record is written asynchronously after the confirm, in a batch; a
// GET right after the 202 may briefly answer 404.

#include <memory>

#include "actors/node/node_context.hpp"
#include "adapters/http/server.hpp"

namespace herald {

class gateway {
public:
  /// `users` and `templates` answer lookups (user_lookup.hpp, template_cache.hpp).
  gateway(node_context& ctx, caf::actor status_writer, caf::actor notification_reader,
          caf::actor users, caf::actor templates);

  void add_routes(http::server& server);

private:
  /// Everything the handlers use. Shared with the lookups in flight: their answers come
  /// on actor threads, possibly after the node dropped the gateway (a stop under load).
  struct core;
  std::shared_ptr<core> core_;
};

} // namespace herald
