#pragma once

// api_keys: service API keys, managed with the admin token on the gateway port.
//
//   POST   /api/v1/api-keys        {"name", "scopes": [...]} -> 201 {id, name, key, prefix,
//                                  scopes, created_at}: the key is shown this once
//   GET    /api/v1/api-keys        the active keys, paged (never the key itself)
//   DELETE /api/v1/api-keys/{id}   revokes: 200 {id, revoked: true}; 404 unknown or revoked
//
// Keys are stored only as SHA-256 digests in user_db (runtime/auth/api_key.hpp). A key
// created or revoked here is added to or dropped from this node's key_set right after its
// transaction committed, so it works, or is refused, on this node from the answer on; the
// other nodes follow within auth.keys_refresh_ms (actors/common/key_refresher.hpp).
//
// The store: a supervised pool of one detached actor owning a user_db connection.
//   (create_atom, std::string name, auth::scope_set scopes) -> (outcome, json text)   201, 503
//   (list_atom, std::int64_t page, std::int64_t limit)
//                                       -> (outcome, json array text, std::int64_t total)
//   (revoke_atom, std::string id)       -> (outcome, json text)          200, 404, 503

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "actors/common/access.hpp"
#include "actors/messaging/messages.hpp"
#include "actors/node/node_context.hpp"
#include "runtime/auth/key_set.hpp"
#include "runtime/supervision/supervised_pool.hpp"

namespace herald {

using list_atom = caf::atom_constant<caf::atom("list")>;
using revoke_atom = caf::atom_constant<caf::atom("revoke")>;

/// A valid POST /api/v1/api-keys body.
struct api_key_request {
  std::string name;
  auth::scope_set scopes = 0;
};

/// Reads a POST /api/v1/api-keys body; nullopt with `error` naming the field or the
/// unknown scope.
std::optional<api_key_request> parse_api_key_request(const nlohmann::json& body,
                                                     std::string& error);

runtime::supervised_pool spawn_api_key_store(node_context& ctx,
                                             std::shared_ptr<auth::key_set> keys);

/// The routes above on the gateway's `server`; `store` is spawn_api_key_store's pool.
void add_api_key_routes(http::server& server, caf::actor_system& sys,
                        std::shared_ptr<const access::gate> gate, caf::actor store);

/// The routes with their credentials, for the README's table.
std::vector<access::route_row> api_key_route_rules();

} // namespace herald
