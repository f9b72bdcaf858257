#pragma once

// bulk: POST /api/v1/notifications/bulk, many notifications in one request, each judged
// exactly as the single POST would judge it (same checks, same error texts), with the
// work batched at every hop instead of repeated per item:
//   1. parse (parse_bulk_request): the body is one of
//        {"notifications": [item, ...]}            each item the single POST's body
//        {"notification_type", "template_code", "variables", "user_ids": [...],
//         "request_id", "priority", "metadata", "language", "template_version"}
//                                                  one template to many users
//      at most `gateway.bulk_max` items (more: 413 naming the setting, before any work);
//      a body of neither form, or a user_ids form whose shared fields are wrong, is a 400.
//      The user_ids form's request_id gives each item the request_id
//      "<request_id>:<user_id>" (so at most 91 characters, and a user_id may appear
//      once), so a repeated bulk request — in any order — never delivers twice.
//      A login token sends only to its own user (other items: 403).
//   2. admission: ONE Redis script call for every item (admission::check_many): rate
//      limits per user and per credential counted item by item, and the request_id claims.
//   3. users: the copies here, the misses in ONE lookup_many request; templates: one
//      lookup per distinct (code, languages, version).
//   4. records: every `queued` record goes to the intake together (group-committed in
//      transactions of up to status.batch_max rows). An item whose send_at is ahead (in
//      the user_ids form the shared send_at applies to every item) passed the same checks
//      and instead joins the request's other such items in ONE durable transaction of
//      the schedule store (schedule_many, schedule_store.hpp): its notification row
//      `scheduled` and its scheduled send, published by the scheduler when due. A
//      send_at now or past sends at once, as the single POST does.
//   5. publish: every message is handed to the publishers at once (spread over them), so
//      confirms are batched; each waits for its own confirm only.
// The answer comes once every item is settled: 202 when all were accepted, 207 when some
// were not, with data {"accepted", "rejected", "items": [{"index", "status",
// "notification_id"} | {"index", "status": "scheduled", "notification_id", "send_at"} |
// {"index", "status": "rejected", "code", "error"}]} in request order.
// An accepted item's status is "queued", "scheduled" (committed; send_at as the single
// POST answers it), or "duplicate" when its request_id was seen before (notification_id
// is the first one's; nothing is sent or scheduled again; the same request_id with another
// body is the single POST's 409). `code` is the status the single POST would have answered
// for that item: a scheduled item the schedule store could not commit is a 503 and its
// request_id claim is released, as for a queued item the broker refused. X-RateLimit-* headers carry the
// tightest window any item met.

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

#include "actors/gateway/notification_request.hpp"
#include "adapters/http/server.hpp"

namespace herald {

class admission;
class directory;
class notification_intake;
namespace amqp {
class confirmed_publisher;
}

/// One item of a bulk request as parsed.
struct bulk_item {
  int status = 0;          ///< 0: valid so far; else the status of its refusal
  std::string error;       ///< when refused
  notification_request r;
  std::string fingerprint; ///< of the item's body ("" when it has no request_id)
};

struct bulk_request {
  int status = 200;  ///< 400 or 413 when the body itself is wrong
  std::string error;
  std::vector<bulk_item> items;
};

/// The user_ids form's request_id leaves room for ":<user_id>" (a UUID).
inline constexpr std::size_t max_bulk_request_id_length = max_request_id_length - 37;

/// Parses a bulk body (either form). `idempotency_key`: the Idempotency-Key header ("" when
/// none); only the user_ids form takes one (as its request_id).
bulk_request parse_bulk_request(const nlohmann::json& body, std::size_t bulk_max,
                                const std::string& idempotency_key);

/// What a bulk uses of the gateway. The publishers, directory and limits belong to the
/// gateway: `keep_alive` (the gateway's core) is held until the last publish is handed
/// over, never in a publisher's callback.
struct bulk_parts {
  directory* dir = nullptr;
  std::shared_ptr<admission> checks;
  std::shared_ptr<notification_intake> intake;
  std::vector<amqp::confirmed_publisher*> publishers;
  caf::actor status_writer;
  caf::actor_system* system = nullptr; ///< for asking the schedule store
  caf::actor schedules;                ///< the schedule store's pool (schedule_store.hpp)
  render_limits limits;
};

/// Runs the parsed items (steps 2-5) for `client_id` ("key:<id>", "user:<id>", "admin");
/// `only_user`: a login token's user ("" for other credentials). `answer` runs once.
void run_bulk(const bulk_parts& parts, std::shared_ptr<void> keep_alive,
              std::vector<bulk_item> items, std::string client_id, std::string only_user,
              std::string correlation_id, http::reply_fn answer);

} // namespace herald
