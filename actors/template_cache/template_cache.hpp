#pragma once

// template_cache: templates by code, language and version, served from memory.
//
// A template is identified by code + language + version. Versions are immutable once
// written, so the cache keeps each (code, language, version) it has served COMPILED (a
// compiled_template: every Mustache part parsed once) and never revalidates it. What
// changes is which version is the latest and which languages a code has: the cache keeps
// a small per-code index (channel, default language, latest version of each language)
// for `templates.index_ttl_ms` (default 1000 ms); the first lookup after that re-reads
// the index from PostgreSQL with one indexed query. A create or PUT through this node
// drops the code's index at once, so this node sees its own writes immediately and every
// other node within `templates.index_ttl_ms` — no restart, no cross-node messages. A
// lookup never serves a version that does not exist; at worst it serves the previous
// latest for up to that interval. Lookups of unknown codes are not cached.
//
// Blocking work (libpqxx) runs in a supervised pool of detached store workers (see
// template_store.hpp); the cache is an event-based actor that only does memory work;
// previews render on detached actors. Concurrent misses for one index or one version share one query.
//
// Messages (the cache's contract with other services):
//   (lookup_atom, std::string code, std::vector<std::string> languages, int version)
//       -> (outcome, template_record)
//     Tries `languages` in order (empty strings skipped; each also by its primary subtag,
//     "pt-br" then "pt"; case-insensitive), then the code's default language. version 0
//     is the latest in the chosen language; N is exactly version N there, else 404 naming
//     code, language and version. The record has `language`, `version` and
//     `default_language` filled. 404 for an unknown code, 503 when the database is down.
//   (render_atom, std::string code, std::vector<std::string> languages, int version,
//    std::string variables_json) -> (outcome, template_record, std::string rendered_json)
//     Resolves like lookup, then renders the compiled template (no parsing) with the
//     variables: {"subject","body","html_body"} or {"title","body","image_url","link",
//     "data"}, plus "missing_variables". 413 for variables over
//     templates.max_variables_bytes; 422 when it does not render, or not within the render
//     limits (render.hpp), which stop the render itself. The render runs on a detached
//     actor of its own, so lookups never wait behind one; at most 4 at once, more are a
//     503.
//   (create_atom, template_record) -> (outcome, template_record)
//   (update_atom, std::string code, std::string patch_json)
//       -> (outcome, template_record, bool created)
//     Writes (see template_store.hpp), then drops the code's index on this node. A push
//     image_url or link that is not one Herald may send to is a 400 first
//     (push_url_problem, under push.allow_insecure_endpoints).
//
// Compiled versions are kept under templates.cache_versions and templates.cache_bytes,
// least recently used first out (compiled_cache.hpp).
//
// Counters on the registry entry "template_cache" prove the cache works: hits / misses
// (compiled versions), index_hits / index_reloads, store_queries (every query it sent to
// PostgreSQL), renders, and cached_versions / cached_bytes (what it holds now).

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "actors/common/access.hpp"
#include "actors/messaging/messages.hpp"
#include "actors/node/node_context.hpp"
#include "actors/template_cache/template_store.hpp"
#include "adapters/http/server.hpp"
#include "runtime/supervision/supervised_pool.hpp"

namespace herald {

using render_atom = caf::atom_constant<caf::atom("render")>;

struct template_service {
  caf::actor cache;             ///< lookups, renders, creates and updates go here
  runtime::supervised_pool store; ///< listings go here directly (nothing to cache)
};

template_service spawn_template_cache(node_context& ctx);

/// The templates REST API (port base+2):
///   POST /api/v1/templates                       create a code, or a language of one
///   GET  /api/v1/templates?page=&limit=&channel= codes with their languages
///   GET  /api/v1/templates/{code}?language=&version=
///   PUT  /api/v1/templates/{code}                a new version (old ones kept)
///   GET  /api/v1/templates/{code}/versions?language=&page=&limit=
///   POST /api/v1/templates/{code}/render         preview with variables
/// Each route behind `gate` (the table is in template_routes.cpp).
void add_template_routes(http::server& server, caf::actor_system& sys,
                         std::shared_ptr<const access::gate> gate,
                         const template_service& templates);

/// The routes with their credentials, for the README's table.
std::vector<access::route_row> template_route_rules();

/// The language a lookup serves: the first of `languages` the code has (each tried as
/// given, in lower case, then by its primary subtag), else the code's default language;
/// "" when the index has neither.
std::string choose_language(const code_index& idx, const std::vector<std::string>& languages);

/// A template version as the API shows it (parts of its channel only).
nlohmann::json to_json(const template_record& t);

} // namespace herald
