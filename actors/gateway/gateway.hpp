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
// Scheduling (issue 12): a request with `send_at` ahead (notification_request.hpp: RFC 3339
// with an offset, at most 30 days ahead; now or past sends at once) is checked the same
// way, then committed durably as a scheduled send with its notification `scheduled`
// (actors/scheduler/schedule_store.hpp) instead of being published: 202 with status
// `scheduled` and `send_at` means it is in notification_db; the scheduler on a gateway
// node publishes it when due. DELETE /api/v1/notifications/{id} cancels it while it is
// still scheduled: 200 with the record (`cancelled`), 409 naming the status once it is on
// its way, 404 unknown.
//
// Credentials (actors/common/access.hpp; the route table is in gateway.cpp): sending
// needs an API key with notifications:write, or a user's login token for a notification
// to that very user; reading a notification needs notifications:read, or the login token
// of the user it was sent to (403 for another user's); cancelling one needs
// notifications:write, or that user's login token. Introspection needs
// introspection:read. Listing (GET /api/v1/notifications, list_request.hpp) needs
// notifications:read, or a login token, which lists only its own user's notifications
// (a user_id filter naming another user is a 403). GET /openapi.json (openapi.hpp) needs
// no credential.
//
// Before any lookup, one admission check in Redis (admission.hpp: the rate limits and the
// request_id claim, one script, group-committed with other requests' checks): 429 past a
// limit (Retry-After); 409 for a request_id used with another body, or whose first
// request is still in flight (Retry-After: 1); 200 with the first notification for a
// request_id seen within 24 h. Answers after the check carry X-RateLimit-Limit, -Remaining
// and -Reset (seconds) of the tightest window; refusals before it (400, 401, 403) are not
// counted and carry none. Redis down: no check (fail open, counted on `admission`).
// The request_id is the body's field or the Idempotency-Key header (both: they must be
// equal), scoped per credential (API key, login token's user, admin).
//
// POST /api/v1/notifications/bulk: many notifications in one request, each judged as
// above, with every step batched (bulk.hpp).
//
// Read your own write: the `queued` record is committed (notification_intake, group
// commit) before the message is published, so a GET after the 202 finds it; the same
// insert is the request_id backstop (unique per credential in notification_db), so a
// request_id Redis forgot still answers the first notification. A message the broker
// refuses (or whose confirm is lost) gets its record deleted and its claim freed, and the
// client a 503. Cost: the record's commit (without its WAL flush) and the confirm run one
// after the other: ≈ 0.2–0.4 ms more per request (README, "Rate limits and idempotency").
// Degraded: with notification_db down, the 202 comes on the confirm alone and the record
// follows through the status writer (a GET may briefly answer 404; no backstop then).

#include <memory>
#include <string_view>
#include <vector>

#include "actors/common/access.hpp"
#include "actors/node/node_context.hpp"
#include "adapters/http/server.hpp"

namespace herald {

class gateway {
public:
  /// The bulk route (bulk.hpp), whose body limit is gateway.bulk_max_body_bytes.
  static constexpr std::string_view bulk_path = "/api/v1/notifications/bulk";

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
