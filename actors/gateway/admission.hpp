#pragma once

// admission: the gateway's checks of a notification request that must hold across every
// gateway node, in Redis, in one round trip per request: the rate limits and the
// request_id claim (idempotency). One Lua script per request does all of them
// atomically; the requests of every HTTP thread are group-committed onto one connection
// (redis::command_batcher), so many requests share each round trip. A bulk request
// (bulk.hpp) checks all its items in ONE script call (check_many), item by item in
// order, with exactly the single request's rules.
//
// Rate limits (rate_limit.per_user, rate_limit.per_client): fixed windows. A subject's
// window starts with its first counted request and lasts the spec's period (a key with
// that TTL); past the limit, requests are refused until the key expires (Retry-After is
// its remaining TTL). Only requests that would create a notification count: a refused
// one, a replay or an idempotency conflict do not. Both limits are checked before either
// is counted, so a request refused by one does not use up the other. The answer carries
// the tightest window: the refusing one, else the one with fewest requests left.
//
// Idempotency: key `herald:idem:<client>:<request_id>` (scoped per credential, as the
// database backstop is). Free: claimed as pending ("p|fingerprint|notification_id") for
// `claim_ttl` and the request goes on; complete() turns it into done for 24 h once the
// notification is accepted, release() frees it when the attempt failed, so a retry can
// succeed. Taken with another fingerprint: conflict. Pending with this fingerprint:
// in_progress. Done with this fingerprint: replay (the first notification's id).
//
// Redis unreachable or too slow: `unchecked` — the caller serves without limits and
// without the Redis claim (fail open; notification_db's unique request_id still prevents
// a second notification). Each such request counts `fail_open` on the registry entry
// `admission`, and a warning is logged at most every 10 s with the number since the last.

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "adapters/redis/command_batcher.hpp"
#include "runtime/config/rate_spec.hpp"
#include "runtime/config/settings.hpp"
#include "runtime/registry/registry.hpp"

namespace herald {

struct admission_request {
  std::string user_id;
  std::string client_id;       ///< "key:<id>", "user:<id>", "admin", "anonymous"
  std::string request_id;      ///< "" : no idempotency check
  std::string fingerprint;     ///< of the body without its request_id
  std::string notification_id; ///< the id this request gets if it is new
};

struct admission_verdict {
  enum class kind { admitted, limited, replay, in_progress, conflict, unchecked };
  kind what = kind::unchecked;
  /// The tightest window (when `rated`): limit, left after this request, and its reset.
  bool rated = false;
  std::string limit_name; ///< rate_limit.per_user or rate_limit.per_client
  std::int64_t limit = 0;
  std::int64_t remaining = 0;
  std::chrono::milliseconds reset{0};
  std::string existing_id; ///< replay: the first notification
};

class admission {
public:
  admission(const config::settings& s, runtime::entry_ptr entry);

  /// Whether there is anything to check for a request without a request_id.
  bool limits_on() const { return !per_user_.off() || !per_client_.off(); }

  /// Runs the checks; `done` runs once, on the Redis I/O thread (it must not block).
  void check(const admission_request& r, std::function<void(const admission_verdict&)> done);

  /// The checks of many requests (a bulk) in ONE script call: each judged exactly as
  /// check() would, in order, so earlier items count against later ones' windows. `done`
  /// runs once, on the Redis I/O thread, with one verdict per request in order (all
  /// `unchecked` when Redis fails: fail open, counted once per request).
  void check_many(const std::vector<admission_request>& rs,
                  std::function<void(std::vector<admission_verdict>)> done);

  /// complete() and release() for many requests, one script call each (fire and forget).
  void complete_many(const std::vector<std::pair<admission_request, std::string>>& done);
  void release_many(const std::vector<admission_request>& rs);

  /// The request's notification is accepted as `notification_id` (its own, or the one the
  /// database already had): its claim becomes done for 24 h. Fire and forget.
  void complete(const admission_request& r, const std::string& notification_id);

  /// The request failed: its claim is freed (only if it is still this request's). `then`,
  /// when given, runs once Redis has answered (or failed to): answer the client from it,
  /// so that its corrected retry cannot overtake the release.
  void release(const admission_request& r, std::function<void()> then = {});

  static std::string idempotency_key(const admission_request& r);

private:

  config::rate_spec per_user_;
  config::rate_spec per_client_;
  std::string per_user_text_;
  std::string per_client_text_;
  std::chrono::milliseconds claim_ttl_;
  runtime::entry_ptr entry_;
  std::unique_ptr<redis::command_batcher> redis_;
  std::shared_ptr<struct fail_open_log> log_;
};

} // namespace herald
