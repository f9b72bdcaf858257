#pragma once

// directory: the gateway's view of users and templates, to check a notification at request
// time (unknown user or template, wrong channel, missing variables: a 4xx, not a failure
// in the worker) and to pin the template version and language it will be rendered with.
//
// Hits are served from two expiring maps that HTTP threads read directly, with no actor
// message; a miss asks the user_lookup pool or the template cache and keeps the answer
// (found records only, never "unknown"). Freshness: a change made through this node is
// announced on the node's change feed before the users or templates service answers,
// and drops the copies here at once; a change made through another node is seen here
// within `gateway.cache_ttl_ms`. That staleness only affects the checks and the language
// pinned at request time: the worker reads the user again when it sends (address and
// preferences are always current).

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "actors/messaging/messages.hpp"
#include "actors/node/node_context.hpp"
#include "runtime/cache/expiring_map.hpp"

namespace herald {

class directory {
public:
  using user_fn = std::function<void(const outcome&, const user_record&)>;
  using template_fn = std::function<void(const outcome&, const template_record&)>;

  /// `users` answers (lookup_atom, id); `templates` answers (lookup_atom, code, languages,
  /// version) — see user_lookup.hpp and template_cache.hpp.
  directory(node_context& ctx, caf::actor users, caf::actor templates);

  /// Calls `done` exactly once: at once on a hit, else from an actor thread.
  void user(const std::string& id, user_fn done);

  /// Each of `ids` as user() would answer it, in order: hits from the copies, the misses
  /// in ONE lookup_many request (user_lookup.hpp), for a bulk. Calls `done` exactly once.
  using users_fn = std::function<void(std::vector<std::pair<outcome, user_record>>)>;
  void users(const std::vector<std::string>& ids, users_fn done);

  /// The version a notification will use: `languages` in order, then the code's default;
  /// `version` 0 is the latest. Calls `done` exactly once, like user().
  void find_template(const std::string& code, const std::vector<std::string>& languages,
                     int version, template_fn done);

private:
  struct state;
  std::shared_ptr<state> state_; ///< shared with the miss continuations and subscriptions
};

} // namespace herald
