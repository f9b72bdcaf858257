#pragma once

// template_cache: templates by code, language and version. An event-based actor keeps the
// templates in use in memory; misses and writes go to a supervised pool of store workers,
// each a detached actor owning one PostgreSQL (template_db) connection. A create drops the
// cached entries of that code on this node.
//
// Messages:
//   (create_atom, template_record)                    -> (outcome, template_record)
//   (lookup_atom, std::string code, std::string lang) -> (outcome, template_record)
// A lookup takes the latest version in `lang`, else in "en", else in any language.

#include <nlohmann/json.hpp>
#include <optional>

#include "actors/messaging/messages.hpp"
#include "actors/node/node_context.hpp"
#include "adapters/http/server.hpp"
#include "runtime/supervision/supervised_pool.hpp"

namespace herald {

struct template_service {
  caf::actor cache;                   ///< send lookups and creates here
  runtime::supervised_pool store;
};

template_service spawn_template_cache(node_context& ctx);

/// POST /api/v1/templates, GET /api/v1/templates/{code}?language=.
void add_template_routes(http::server& server, caf::actor_system& sys, caf::actor cache);

/// Validates a create-template body; on failure returns nullopt with `status` (400 or 422)
/// and `error` naming the field.
std::optional<template_record> parse_new_template(const nlohmann::json& body, int& status,
                                                  std::string& error);

nlohmann::json to_json(const template_record& t);

} // namespace herald
