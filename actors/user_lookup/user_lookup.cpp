#include "actors/user_lookup/user_lookup.hpp"

#include <regex>

#include "actors/common/ask.hpp"
#include "actors/common/json_fields.hpp"
#include "actors/common/ids.hpp"
#include "actors/common/rest.hpp"
#include "adapters/postgres/session.hpp"
#include "adapters/redis/client.hpp"
#include "runtime/logging/log.hpp"

namespace herald {

using json = nlohmann::json;

json to_json(const user_record& u) {
  return {{"id", u.id},
          {"email", u.email},
          {"name", u.name},
          {"preferences",
           {{"email", u.email_enabled}, {"push", u.push_enabled}, {"language", u.language}}}};
}

namespace {

std::optional<user_record> from_cache(const std::string& text) {
  auto j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return std::nullopt;
  }
  try {
    user_record u;
    u.id = j.at("id").get<std::string>();
    u.email = j.at("email").get<std::string>();
    u.name = j.at("name").get<std::string>();
    auto& p = j.at("preferences");
    u.email_enabled = p.at("email").get<bool>();
    u.push_enabled = p.at("push").get<bool>();
    u.language = p.at("language").get<std::string>();
    return u;
  } catch (const json::exception&) {
    return std::nullopt;
  }
}

std::string cache_key(const std::string& id) {
  return "herald:user:" + id;
}

struct store_state {
  std::unique_ptr<postgres::session> db;
  std::unique_ptr<redis::client> cache;
  std::chrono::seconds ttl{300};
  runtime::entry_ptr entry;
  static inline const char* name = "user_store";
};

user_record read_row(const pqxx::row& row) {
  user_record u;
  u.id = row["id"].c_str();
  u.email = row["email"].c_str();
  u.name = row["name"].c_str();
  u.language = row["language"].c_str();
  u.email_enabled = row["email_enabled"].as<bool>();
  u.push_enabled = row["push_enabled"].as<bool>();
  return u;
}

caf::behavior user_store(caf::stateful_actor<store_state>* self, std::string db_url,
                         std::string redis_url, std::chrono::seconds ttl,
                         runtime::entry_ptr entry) {
  self->state.db = std::make_unique<postgres::session>(db_url);
  self->state.cache = std::make_unique<redis::client>(redis_url);
  self->state.ttl = ttl;
  self->state.entry = entry;
  entry->set_state("running");
  log::context who{"users", entry->name(), {}};
  return {
    [=](create_atom, user_record u) -> std::tuple<outcome, user_record> {
      auto& st = self->state;
      auto r = st.db->transact([&](pqxx::work& tx) {
        tx.exec_params("INSERT INTO users (id, email, name, language, email_enabled, "
                       "push_enabled) VALUES ($1, $2, $3, $4, $5, $6)",
                       u.id, u.email, u.name, u.language, u.email_enabled, u.push_enabled);
      });
      st.entry->processed += 1;
      if (r.code == postgres::status::conflict) {
        return {outcome{409, "a user with email " + u.email + " already exists"}, u};
      }
      if (!r.ok()) {
        st.entry->failed += 1;
        log::warn(who, "create user failed", {{"error", r.detail}});
        return {outcome{503, r.detail}, u};
      }
      st.cache->del(cache_key(u.id));
      return {outcome{201, {}}, u};
    },
    [=](lookup_atom, const std::string& id) -> std::tuple<outcome, user_record> {
      auto& st = self->state;
      st.entry->processed += 1;
      if (!is_uuid(id)) {
        return {outcome{404, "no user with id " + id}, user_record{}};
      }
      if (auto cached = st.cache->get(cache_key(id))) {
        if (auto u = from_cache(*cached)) {
          return {outcome{200, {}}, *u};
        }
      }
      std::optional<user_record> found;
      auto r = st.db->transact([&](pqxx::work& tx) {
        auto rows = tx.exec_params("SELECT id, email, name, language, email_enabled, "
                                   "push_enabled FROM users WHERE id = $1",
                                   id);
        if (!rows.empty()) {
          found = read_row(rows[0]);
        }
      });
      if (!r.ok()) {
        st.entry->failed += 1;
        return {outcome{503, r.detail}, user_record{}};
      }
      if (!found) {
        return {outcome{404, "no user with id " + id}, user_record{}};
      }
      st.cache->set(cache_key(id), to_json(*found).dump(), st.ttl);
      return {outcome{200, {}}, *found};
    },
  };
}

} // namespace

runtime::supervised_pool spawn_user_lookup(node_context& ctx) {
  auto db_url = postgres::database_url(ctx.settings.get("pg.url"),
                                       ctx.settings.get("pg.user_db"));
  auto redis_url = ctx.settings.get("redis.url");
  auto ttl = std::chrono::seconds{ctx.settings.get_int("redis.user_ttl_s")};
  runtime::pool_spec spec;
  spec.name = "user_lookup";
  spec.role = "users";
  spec.size = static_cast<std::size_t>(ctx.settings.get_int("pg.pool_size"));
  spec.spawn_worker = [=](caf::actor_system& sys, runtime::entry_ptr entry) {
    return sys.spawn<caf::detached>(user_store, db_url, redis_url, ttl, entry);
  };
  return runtime::spawn_supervised_pool(ctx.system, ctx.registry, std::move(spec));
}

std::optional<user_record> parse_new_user(const json& body, std::string& error) {
  static const std::regex email_shape{R"([^@\s]+@[^@\s]+\.[^@\s]+)"};
  auto string_field = [&](const char* name, bool required, std::size_t max,
                          std::string& out) {
    error = read_string_field(body, name, required, max, out);
    return error.empty();
  };
  user_record u;
  u.id = make_uuid();
  if (!string_field("email", true, 254, u.email) || !string_field("name", true, 200, u.name)
      || !string_field("language", false, 16, u.language)) {
    return std::nullopt;
  }
  if (!std::regex_match(u.email, email_shape)) {
    error = "field 'email' is not a valid email address";
    return std::nullopt;
  }
  if (auto p = body.find("preferences"); p != body.end() && !p->is_null()) {
    if (!p->is_object()) {
      error = "field 'preferences' must be an object";
      return std::nullopt;
    }
    for (auto [key, flag] : {std::pair{"email", &u.email_enabled}, {"push", &u.push_enabled}}) {
      if (auto i = p->find(key); i != p->end()) {
        if (!i->is_boolean()) {
          error = std::string{"field 'preferences."} + key + "' must be a boolean";
          return std::nullopt;
        }
        *flag = i->get<bool>();
      }
    }
    if (auto i = p->find("language"); i != p->end()) {
      if (!i->is_string() || i->get<std::string>().empty()) {
        error = "field 'preferences.language' must be a non-empty string";
        return std::nullopt;
      }
      u.language = i->get<std::string>();
    }
  }
  return u;
}

void add_user_routes(http::server& server, caf::actor_system& sys, caf::actor user_lookup) {
  server.route("POST", "/api/v1/users", [&sys, user_lookup](http::request&& req,
                                                            http::reply_fn reply) {
    auto body = rest::parse_object(req.body, reply);
    if (!body) {
      return;
    }
    std::string error;
    auto user = parse_new_user(*body, error);
    if (!user) {
      reply(rest::fail(400, error));
      return;
    }
    ask(sys, user_lookup, service_timeout,
        [reply](outcome& o, user_record& u) {
          reply(o.ok() ? rest::ok(201, to_json(u), "user created") : rest::fail(o.status, o.error));
        },
        rest::unavailable(reply, "users service"), create_atom::value, *user);
  });
  server.route("GET", "/api/v1/users/{id}", [&sys, user_lookup](http::request&& req,
                                                                http::reply_fn reply) {
    ask(sys, user_lookup, service_timeout,
        [reply](outcome& o, user_record& u) {
          reply(o.ok() ? rest::ok(200, to_json(u), "user found") : rest::fail(o.status, o.error));
        },
        rest::unavailable(reply, "users service"), lookup_atom::value, req.params["id"]);
  });
}

} // namespace herald
