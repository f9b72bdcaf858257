#pragma once

// user_lookup: users, their contact details, preferences and devices (push tokens). A
// supervised pool of store workers, each a detached actor owning one PostgreSQL (user_db)
// connection and one Redis connection.
//
// Other services call these messages, the contract:
//   (lookup_atom, std::string id)  -> (outcome, user_record)   200, 404, 503
//   (lookup_many_atom, std::vector<std::string> ids) -> std::vector<user_lookup_result>
//       the same lookup for a batch: one result per id, in order. One Redis round trip
//       (MGET) for all of them, one PostgreSQL query (id = ANY) for the misses, and one
//       script filling the cache with what it found, each fill guarded by the user's
//       generation exactly as for a single lookup. 503 applies per id (PostgreSQL down
//       fails only the misses).
// The users REST API (user_routes.cpp) uses the rest, listed below with user_profile.
//
// -- Cache -----------------------------------------------------------------------------
// A lookup is served from Redis when the user is cached (key herald:user:<id>, the whole
// profile including push tokens as JSON, TTL redis.user_ttl_s): no PostgreSQL round trip.
// On a miss it reads PostgreSQL and fills the cache. Every change (update, delete,
// preferences, push tokens) commits to PostgreSQL first and then invalidates the cached
// copy before it answers, so a lookup that starts after the answer sees the change.
//
// The race this closes: lookup L misses, reads the old row from PostgreSQL; writer W
// commits and invalidates; L then writes the old row into Redis, where it would stay
// until the TTL. Each user has a generation key (herald:user:<id>:gen). W's invalidation
// increments it and deletes the cached copy in one Lua script. L reads the generation
// together with the cached copy (one MGET), before it queries PostgreSQL, and fills the
// cache with a Lua script that writes only if the generation is still the one it read. So
// a fill based on a read from before a change either lands before that change's
// invalidation (which deletes it) or is refused (counted as cache_fills_refused). The
// generation key lives a day after its last increment, far longer than any lookup.
//
// Redis is only a cache: when it is unreachable lookups go to PostgreSQL (counted as
// cache_errors) and changes still succeed. A change whose invalidation failed (Redis down
// at that moment but keeping its data) can leave a stale copy for at most the TTL; it is
// logged as a warning.
//
// Counters per worker (registry, under "counters"; summed on GET /api/v1/users/stats):
// cache_hits, cache_misses, cache_errors, cache_fills_refused, pg_queries (PostgreSQL
// transactions this worker ran, reads and writes).
//
// -- Messages of the REST API ----------------------------------------------------------
//   (create_atom, user_profile, std::string password_hash) -> (outcome, user_profile)
//                                                             201, 409, 503
//   (profile_atom, std::string id)        -> (outcome, user_profile)       200, 404, 503
//   (update_atom, user_change)            -> (outcome, user_profile)       200, 404, 409, 503
//   (delete_atom, std::string id)         -> (outcome)                     200, 404, 503
//   (list_atom, std::int64_t page, std::int64_t limit)
//                                         -> (outcome, std::vector<user_profile>, std::int64_t total)
//   (credentials_atom, std::string email) -> (outcome, std::string id, std::string email,
//                                             std::string password_hash)   200, 404, 503
//       (case-insensitive address; the hash is "" for a user without a password; this is
//       the only message that carries a hash, and it never reaches the cache)
//   (add_token_atom, std::string user_id, push_token) -> (outcome, push_token)
//       201 registered (or moved here from another user), 200 already registered to this
//       user (keys refreshed), 404, 409 when the user has users.max_push_tokens already
//   (remove_token_atom, std::string user_id, std::string token_id, std::string kind,
//    std::string value) -> (outcome, push_token)   by id, or (token_id "") by kind and
//       value (FCM token or Web Push endpoint); 200, 404

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "actors/common/access.hpp"
#include "actors/messaging/messages.hpp"
#include "actors/node/node_context.hpp"
#include "adapters/http/server.hpp"
#include "runtime/supervision/supervised_pool.hpp"

namespace herald {

// -- verbs of the users service --------------------------------------------------------

using lookup_many_atom = caf::atom_constant<caf::atom("lookupmany")>;
using profile_atom = caf::atom_constant<caf::atom("profile")>;
using update_atom = caf::atom_constant<caf::atom("update")>;
using delete_atom = caf::atom_constant<caf::atom("delete")>;
using list_atom = caf::atom_constant<caf::atom("list")>;
using credentials_atom = caf::atom_constant<caf::atom("creds")>;
using add_token_atom = caf::atom_constant<caf::atom("addtoken")>;
using remove_token_atom = caf::atom_constant<caf::atom("rmtoken")>;

// -- records ---------------------------------------------------------------------------

/// One user of a lookup_many answer: 200 with the user, 404, or 503.
struct user_lookup_result {
  outcome result;
  user_record user;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, user_lookup_result& x) {
  return f(caf::meta::type_name("user_lookup_result"), x.result, x.user);
}

/// A user as the users REST API shows it: the record other services get, and what only
/// the API shows. Never holds the password hash.
struct user_profile {
  user_record user; ///< its quiet hours included
  bool has_password = false;
  std::string created_at; ///< RFC 3339, UTC
  std::string updated_at;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, user_profile& x) {
  return f(caf::meta::type_name("user_profile"), x.user, x.has_password,
           x.created_at, x.updated_at);
}

/// A partial change of one user: only the fields that are set are written.
struct user_change {
  std::string id;
  caf::optional<std::string> email;
  caf::optional<std::string> name;
  caf::optional<std::string> password_hash; ///< already hashed
  caf::optional<std::string> language;
  caf::optional<bool> email_enabled;
  caf::optional<bool> push_enabled;
  caf::optional<quiet_hours> quiet; ///< set to an empty one to remove quiet hours
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, user_change& x) {
  return f(caf::meta::type_name("user_change"), x.id, x.email, x.name, x.password_hash,
           x.language, x.email_enabled, x.push_enabled, x.quiet);
}

// -- the service -----------------------------------------------------------------------

/// The store workers (send every message above to `pool`).
runtime::supervised_pool spawn_user_lookup(node_context& ctx);

/// The users REST API on `server` (see README, "Users service"): CRUD, list, login,
/// preferences, push tokens, stats, each route behind `gate`. `users` is
/// spawn_user_lookup's pool, `hashers` spawn_password_hashers' pool.
void add_user_routes(http::server& server, node_context& ctx,
                     std::shared_ptr<const access::gate> gate, caf::actor users,
                     caf::actor hashers);

/// The routes with their credentials, for the README's table.
std::vector<access::route_row> user_route_rules();

/// The API's JSON form of a user (also the cached form).
nlohmann::json to_json(const user_profile& p);
/// The same for a bare record (no timestamps, has_password false).
nlohmann::json to_json(const user_record& u);
/// {"id", "type": "fcm", "token"} or {"id", "type": "webpush", "subscription": {...}}.
nlohmann::json to_json(const push_token& t);

/// Reads `to_json(user_profile)`'s output back; nullopt when anything is missing.
std::optional<user_profile> profile_from_json(const nlohmann::json& j);

} // namespace herald
