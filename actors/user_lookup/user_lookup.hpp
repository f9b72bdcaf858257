#pragma once

// user_lookup: users, their contact details and preferences. A supervised pool of store
// workers, each a detached actor owning one PostgreSQL (user_db) connection and one Redis
// connection. Lookups are served from Redis when cached; a create or change writes
// PostgreSQL first and then drops the cached copy, so no later lookup sees stale data.
//
// Messages:
//   (create_atom, user_record)     -> (outcome, user_record)   201, 400, 409, 503
//   (lookup_atom, std::string id)  -> (outcome, user_record)   200, 404, 503

#include <nlohmann/json.hpp>
#include <optional>

#include "actors/messaging/messages.hpp"
#include "actors/node/node_context.hpp"
#include "adapters/http/server.hpp"
#include "runtime/supervision/supervised_pool.hpp"

namespace herald {

runtime::supervised_pool spawn_user_lookup(node_context& ctx);

/// POST /api/v1/users, GET /api/v1/users/{id}.
void add_user_routes(http::server& server, caf::actor_system& sys, caf::actor user_lookup);

/// Validates a create-user body; on failure returns nullopt with `error` naming the field.
std::optional<user_record> parse_new_user(const nlohmann::json& body, std::string& error);

nlohmann::json to_json(const user_record& u);

} // namespace herald
