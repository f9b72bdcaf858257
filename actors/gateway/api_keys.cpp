#include "actors/gateway/api_keys.hpp"

#include "actors/common/ask.hpp"
#include "actors/common/ids.hpp"
#include "actors/common/json_fields.hpp"
#include "actors/common/rest.hpp"
#include "actors/user_lookup/user_requests.hpp"
#include "adapters/postgres/session.hpp"
#include "runtime/logging/log.hpp"

namespace herald {

using json = nlohmann::json;

std::optional<api_key_request> parse_api_key_request(const json& body, std::string& error) {
  for (auto& [field, value] : body.items()) {
    if (field != "name" && field != "scopes") {
      error = "unknown field '" + field + "'";
      return std::nullopt;
    }
  }
  api_key_request out;
  if (error = read_string_field(body, "name", true, 200, out.name); !error.empty()) {
    return std::nullopt;
  }
  auto scopes = body.find("scopes");
  if (scopes == body.end() || !scopes->is_array() || scopes->empty()) {
    error = "field 'scopes' must be a non-empty array of scope names";
    return std::nullopt;
  }
  for (auto& name : *scopes) {
    auto s = name.is_string() ? auth::scope_named(name.get<std::string>()) : std::nullopt;
    if (!s) {
      std::string known;
      for (auto& info : auth::known_scopes()) {
        known += (known.empty() ? "" : ", ") + std::string{info.name};
      }
      error = "unknown scope " + (name.is_string() ? "'" + name.get<std::string>() + "'"
                                                   : std::string{json_type_name(name)})
              + " (known: " + known + ")";
      return std::nullopt;
    }
    out.scopes = out.scopes | *s;
  }
  return out;
}

namespace {

constexpr const char* created_at_column =
  "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS created_at";

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (auto& n : names) {
    out += (out.empty() ? "" : " ") + n;
  }
  return out;
}

/// A key as the API shows it (never the key itself, never its digest).
json key_json(const pqxx::row& row) {
  return {{"id", row["id"].c_str()},
          {"name", row["name"].c_str()},
          {"prefix", row["prefix"].c_str()},
          {"scopes", json::parse(row["scopes"].c_str())},
          {"created_at", row["created_at"].c_str()}};
}

outcome unavailable(const postgres::outcome& r) {
  return {503, "user database: " + r.detail};
}

struct store_state {
  std::unique_ptr<postgres::session> db;
  static inline const char* name = "api_key_store";
};

caf::behavior api_key_store(caf::stateful_actor<store_state>* self, std::string db_url,
                            std::shared_ptr<auth::key_set> keys, runtime::entry_ptr entry) {
  self->state.db = std::make_unique<postgres::session>(db_url);
  entry->set_state("running");
  auto counted = [entry](const postgres::outcome& r) {
    entry->processed += 1;
    if (!r.ok()) {
      entry->failed += 1;
      log::warn({"gateway", entry->name(), {}}, "user database call failed",
                {{"error", r.detail}});
    }
    return r.ok();
  };
  return {
    [=](create_atom, const std::string& name,
        auth::scope_set scopes) -> std::tuple<outcome, std::string> {
      auto key = auth::generate_api_key();
      auto id = make_uuid();
      json created;
      auto r = self->state.db->transact([&](pqxx::work& tx) {
        auto rows = tx.exec_params(
          std::string{"INSERT INTO api_keys (id, name, prefix, key_sha256, scopes) "
                      "VALUES ($1, $2, $3, $4, string_to_array($5, ' ')) RETURNING id, name, "
                      "prefix, to_json(scopes) AS scopes, "}
            + created_at_column,
          id, name, key.prefix, auth::to_hex(key.digest), joined(auth::scope_names(scopes)));
        created = key_json(rows[0]);
      });
      if (!counted(r)) {
        return {unavailable(r), std::string{}};
      }
      keys->add(key.digest, {id, name, scopes});
      created["key"] = key.key;
      return {outcome{201, {}}, created.dump()};
    },
    [=](list_atom, std::int64_t page,
        std::int64_t limit) -> std::tuple<outcome, std::string, std::int64_t> {
      json items = json::array();
      std::int64_t total = 0;
      auto r = self->state.db->read([&](pqxx::work& tx) {
        total = tx.exec("SELECT count(*) FROM api_keys WHERE revoked_at IS NULL")[0][0]
                  .as<std::int64_t>();
        auto rows = tx.exec_params(
          std::string{"SELECT id, name, prefix, to_json(scopes) AS scopes, "}
            + created_at_column
            + " FROM api_keys WHERE revoked_at IS NULL ORDER BY created_at, id "
              "LIMIT $1 OFFSET $2",
          limit, (page - 1) * limit);
        items = json::array();
        for (const auto& row : rows) {
          items.push_back(key_json(row));
        }
      });
      if (!counted(r)) {
        return {unavailable(r), std::string{}, 0};
      }
      return {outcome{200, {}}, items.dump(), total};
    },
    [=](revoke_atom, const std::string& id) -> std::tuple<outcome, std::string> {
      outcome gone{404, "no API key with id " + id};
      if (!is_uuid(id)) {
        return {gone, std::string{}};
      }
      bool revoked = false;
      auto r = self->state.db->transact([&](pqxx::work& tx) {
        revoked = !tx.exec_params("UPDATE api_keys SET revoked_at = now() "
                                  "WHERE id = $1 AND revoked_at IS NULL RETURNING id",
                                  id)
                     .empty();
      });
      if (!counted(r)) {
        return {unavailable(r), std::string{}};
      }
      if (!revoked) {
        return {gone, std::string{}};
      }
      keys->revoke(id);
      return {outcome{200, {}}, json{{"id", id}, {"revoked", true}}.dump()};
    },
  };
}

// -- the REST API ------------------------------------------------------------------------

struct api_keys_api {
  caf::actor_system& sys;
  caf::actor store;

  void create(access::call&& c, http::reply_fn reply) {
    auto request = rest::read_body(c.req.body, reply, parse_api_key_request);
    if (!request) {
      return;
    }
    ask(sys, store, service_timeout,
        [reply](outcome& o, std::string& created) {
          reply(o.ok() ? rest::ok(201, json::parse(created),
                                  "API key created; store the key now, it is not shown again")
                       : rest::fail(o.status, o.error));
        },
        rest::unavailable(reply, "API keys"), create_atom::value, request->name,
        request->scopes);
  }

  void list(access::call&& c, http::reply_fn reply) {
    std::string error;
    auto page = rest::parse_page(c.req.query, error);
    if (!page) {
      reply(rest::fail(400, error));
      return;
    }
    ask(sys, store, service_timeout,
        [reply, asked = *page](outcome& o, std::string& items, std::int64_t total) {
          reply(o.ok() ? rest::ok(200, json::parse(items), "API keys",
                                  rest::page_meta(total, asked.page, asked.limit))
                       : rest::fail(o.status, o.error));
        },
        rest::unavailable(reply, "API keys"), list_atom::value, page->page, page->limit);
  }

  void revoke(access::call&& c, http::reply_fn reply) {
    ask(sys, store, service_timeout,
        [reply](outcome& o, std::string& revoked) {
          reply(o.ok() ? rest::ok(200, json::parse(revoked), "API key revoked")
                       : rest::fail(o.status, o.error));
        },
        rest::unavailable(reply, "API keys"), revoke_atom::value, c.req.params["id"]);
  }

  static const std::vector<access::route<api_keys_api>>& routes() {
    static const std::vector<access::route<api_keys_api>> table{
      {"POST", "/api/v1/api-keys", auth::admin(), &api_keys_api::create},
      {"GET", "/api/v1/api-keys", auth::admin(), &api_keys_api::list},
      {"DELETE", "/api/v1/api-keys/{id}", auth::admin(), &api_keys_api::revoke},
    };
    return table;
  }
};

} // namespace

runtime::supervised_pool spawn_api_key_store(node_context& ctx,
                                             std::shared_ptr<auth::key_set> keys) {
  auto db_url = postgres::database_url(ctx.settings.get("pg.url"), ctx.settings.get("pg.user_db"));
  runtime::pool_spec spec;
  spec.name = "api_key_store";
  spec.role = "gateway";
  spec.size = 1;
  spec.spawn_worker = [=](caf::actor_system& sys, runtime::entry_ptr entry) {
    return sys.spawn<caf::detached>(api_key_store, db_url, keys, entry);
  };
  return runtime::spawn_supervised_pool(ctx.system, ctx.registry, std::move(spec));
}

void add_api_key_routes(http::server& server, caf::actor_system& sys,
                        std::shared_ptr<const access::gate> gate, caf::actor store) {
  access::mount(server, std::move(gate),
                std::make_shared<api_keys_api>(api_keys_api{sys, std::move(store)}),
                api_keys_api::routes());
}

std::vector<access::route_row> api_key_route_rules() {
  return access::rows("gateway", api_keys_api::routes());
}

} // namespace herald
