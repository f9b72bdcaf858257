#include "actors/template_cache/template_cache.hpp"

#include <regex>
#include <unordered_map>

#include "actors/common/ask.hpp"
#include "actors/common/json_fields.hpp"
#include "actors/common/rest.hpp"
#include "actors/template_cache/render.hpp"
#include "adapters/postgres/session.hpp"
#include "runtime/logging/log.hpp"

namespace herald {

using json = nlohmann::json;

json to_json(const template_record& t) {
  json j = {{"template_code", t.template_code}, {"language", t.language},
            {"version", t.version},             {"name", t.name},
            {"channel", t.channel},             {"body", t.body},
            {"variables", t.variables}};
  if (t.channel == "email") {
    j["subject"] = t.subject;
    j["html_body"] = t.html_body.empty() ? json(nullptr) : json(t.html_body);
  }
  return j;
}

namespace {

struct store_state {
  std::unique_ptr<postgres::session> db;
  static inline const char* name = "template_store";
};

template_record read_row(const pqxx::row& row) {
  template_record t;
  t.template_code = row["template_code"].c_str();
  t.language = row["language"].c_str();
  t.version = row["version"].as<int>();
  t.name = row["name"].c_str();
  t.channel = row["channel"].c_str();
  t.subject = row["subject"].c_str();
  t.body = row["body"].c_str();
  t.html_body = row["html_body"].c_str();
  auto vars = json::parse(row["variables"].c_str(), nullptr, false);
  if (vars.is_array()) {
    for (auto& v : vars) {
      if (v.is_string()) {
        t.variables.push_back(v.get<std::string>());
      }
    }
  }
  return t;
}

caf::behavior template_store(caf::stateful_actor<store_state>* self, std::string db_url,
                             runtime::entry_ptr entry) {
  self->state.db = std::make_unique<postgres::session>(db_url);
  entry->set_state("running");
  return {
    [=](create_atom, template_record t) -> std::tuple<outcome, template_record> {
      entry->processed += 1;
      auto r = self->state.db->transact([&](pqxx::work& tx) {
        tx.exec_params("INSERT INTO templates (template_code, language, version, name, "
                       "channel, subject, body, html_body, variables) "
                       "VALUES ($1, $2, 1, $3, $4, $5, $6, $7, $8::jsonb)",
                       t.template_code, t.language, t.name, t.channel, t.subject, t.body,
                       t.html_body, json(t.variables).dump());
      });
      if (r.code == postgres::status::conflict) {
        return {outcome{409, "template " + t.template_code + " (" + t.language
                               + ") already exists"},
                t};
      }
      if (!r.ok()) {
        entry->failed += 1;
        return {outcome{503, r.detail}, t};
      }
      t.version = 1;
      return {outcome{201, {}}, t};
    },
    [=](lookup_atom, const std::string& code,
        const std::string& language) -> std::tuple<outcome, template_record> {
      entry->processed += 1;
      std::optional<template_record> found;
      auto r = self->state.db->transact([&](pqxx::work& tx) {
        auto rows = tx.exec_params(
          "SELECT template_code, language, version, name, channel, subject, body, html_body, "
          "variables FROM templates WHERE template_code = $1 "
          "ORDER BY (language = $2) DESC, (language = 'en') DESC, language, version DESC "
          "LIMIT 1",
          code, language);
        if (!rows.empty()) {
          found = read_row(rows[0]);
        }
      });
      if (!r.ok()) {
        entry->failed += 1;
        return {outcome{503, r.detail}, template_record{}};
      }
      if (!found) {
        return {outcome{404, "no template with code " + code}, template_record{}};
      }
      return {outcome{200, {}}, *found};
    },
  };
}

struct cache_state {
  std::unordered_map<std::string, template_record> entries;
  static inline const char* name = "template_cache";
};

std::string key_of(const std::string& code, const std::string& language) {
  return code + '\n' + language;
}

caf::behavior template_cache(caf::stateful_actor<cache_state>* self, caf::actor store,
                             runtime::entry_ptr entry) {
  entry->set_state("running");
  self->link_to(store);
  return {
    [=](lookup_atom, const std::string& code, const std::string& language)
      -> caf::result<outcome, template_record> {
      entry->processed += 1;
      auto key = key_of(code, language);
      if (auto i = self->state.entries.find(key); i != self->state.entries.end()) {
        return {outcome{200, {}}, i->second};
      }
      auto rp = self->make_response_promise<outcome, template_record>();
      self->request(store, service_timeout, lookup_atom::value, code, language)
        .then(
          [=](outcome& o, template_record& t) mutable {
            if (o.ok()) {
              self->state.entries[key] = t;
            }
            rp.deliver(o, t);
          },
          [=](caf::error& e) mutable {
            rp.deliver(outcome{503, "template store: " + self->system().render(e)},
                       template_record{});
          });
      return rp;
    },
    [=](create_atom, template_record t) -> caf::result<outcome, template_record> {
      auto rp = self->make_response_promise<outcome, template_record>();
      auto code = t.template_code;
      self->request(store, service_timeout, create_atom::value, std::move(t))
        .then(
          [=](outcome& o, template_record& created) mutable {
            auto& entries = self->state.entries;
            for (auto i = entries.begin(); i != entries.end();) {
              i = i->second.template_code == code ? entries.erase(i) : std::next(i);
            }
            rp.deliver(o, created);
          },
          [=](caf::error& e) mutable {
            rp.deliver(outcome{503, "template store: " + self->system().render(e)},
                       template_record{});
          });
      return rp;
    },
  };
}

} // namespace

template_service spawn_template_cache(node_context& ctx) {
  auto db_url = postgres::database_url(ctx.settings.get("pg.url"),
                                       ctx.settings.get("pg.template_db"));
  runtime::pool_spec spec;
  spec.name = "template_store";
  spec.role = "templates";
  spec.size = static_cast<std::size_t>(ctx.settings.get_int("pg.pool_size"));
  spec.spawn_worker = [=](caf::actor_system& sys, runtime::entry_ptr entry) {
    return sys.spawn<caf::detached>(template_store, db_url, entry);
  };
  auto store = runtime::spawn_supervised_pool(ctx.system, ctx.registry, std::move(spec));
  auto entry = ctx.registry.enlist("template_cache", "templates", "event_based");
  auto cache = ctx.system.spawn(template_cache, store.pool, entry);
  return {cache, store};
}

std::optional<template_record> parse_new_template(const json& body, int& status,
                                                  std::string& error) {
  static const std::regex code_shape{R"([A-Za-z0-9_.\-]{1,100})"};
  status = 400;
  template_record t;
  auto string_field = [&](const char* name, bool required, std::size_t max,
                          std::string& out) {
    error = read_string_field(body, name, required, max, out);
    return error.empty();
  };
  if (!string_field("template_code", true, 100, t.template_code)
      || !string_field("channel", true, 16, t.channel)
      || !string_field("name", false, 200, t.name)
      || !string_field("language", false, 16, t.language)
      || !string_field("subject", false, 998, t.subject)
      || !string_field("body", true, 256 * 1024, t.body)
      || !string_field("html_body", false, 1024 * 1024, t.html_body)) {
    return std::nullopt;
  }
  if (!std::regex_match(t.template_code, code_shape)) {
    error = "field 'template_code' may hold only letters, digits, '_', '.' and '-'";
    return std::nullopt;
  }
  if (t.channel != "email" && t.channel != "push") {
    error = "field 'channel' must be \"email\" or \"push\"";
    return std::nullopt;
  }
  if (t.channel == "email" && t.subject.empty()) {
    error = "missing required field 'subject' (email templates need one)";
    return std::nullopt;
  }
  if (t.name.empty()) {
    t.name = t.template_code;
  }
  if (auto v = body.find("variables"); v != body.end() && !v->is_null()) {
    if (!v->is_array()) {
      error = "field 'variables' must be an array of names";
      return std::nullopt;
    }
    for (auto& name : *v) {
      if (!name.is_string() || name.get<std::string>().empty()) {
        error = "field 'variables' must be an array of non-empty strings";
        return std::nullopt;
      }
      t.variables.push_back(name.get<std::string>());
    }
  }
  for (auto [field, text] : {std::pair{"subject", &t.subject}, {"body", &t.body},
                             {"html_body", &t.html_body}}) {
    if (auto e = mustache_syntax_error(*text); !e.empty()) {
      status = 422;
      error = std::string{"field '"} + field + "' is not valid Mustache: " + e;
      return std::nullopt;
    }
  }
  return t;
}

void add_template_routes(http::server& server, caf::actor_system& sys, caf::actor cache) {
  server.route("POST", "/api/v1/templates", [&sys, cache](http::request&& req,
                                                          http::reply_fn reply) {
    auto body = rest::parse_object(req.body, reply);
    if (!body) {
      return;
    }
    int status = 400;
    std::string error;
    auto t = parse_new_template(*body, status, error);
    if (!t) {
      reply(rest::fail(status, error));
      return;
    }
    ask(sys, cache, service_timeout,
        [reply](outcome& o, template_record& created) {
          reply(o.ok() ? rest::ok(201, to_json(created), "template created")
                       : rest::fail(o.status, o.error));
        },
        rest::unavailable(reply, "templates service"), create_atom::value, *t);
  });
  server.route("GET", "/api/v1/templates/{code}", [&sys, cache](http::request&& req,
                                                                 http::reply_fn reply) {
    auto language = req.query.count("language") ? req.query["language"] : std::string{"en"};
    ask(sys, cache, service_timeout,
        [reply](outcome& o, template_record& t) {
          reply(o.ok() ? rest::ok(200, to_json(t), "template found")
                       : rest::fail(o.status, o.error));
        },
        rest::unavailable(reply, "templates service"), lookup_atom::value,
        req.params["code"], language);
  });
}

} // namespace herald
