// The templates REST API (see template_cache.hpp for the endpoints and
// template_request.hpp for the validation rules).

#include "actors/common/access.hpp"
#include "actors/common/ask.hpp"
#include "actors/common/json_fields.hpp"
#include "actors/common/rest.hpp"
#include "actors/template_cache/template_cache.hpp"
#include "actors/template_cache/template_request.hpp"

namespace herald {

using json = nlohmann::json;

json to_json(const template_record& t) {
  auto or_null = [](const std::string& s) { return s.empty() ? json(nullptr) : json(s); };
  json j = {{"template_code", t.template_code},
            {"language", t.language},
            {"version", t.version},
            {"name", t.name},
            {"channel", t.channel},
            {"body", t.body},
            {"variables", t.variables},
            {"default_language", or_null(t.default_language)}};
  if (t.channel == "push") {
    j["title"] = t.title;
    j["image_url"] = or_null(t.image_url);
    j["link"] = or_null(t.link);
    auto data = t.data.empty() ? json(nullptr) : json::parse(t.data, nullptr, false);
    j["data"] = data.is_discarded() ? json(nullptr) : data;
  } else {
    j["subject"] = t.subject;
    j["html_body"] = or_null(t.html_body);
  }
  return j;
}

namespace {

/// The `language` query parameter: "" when absent; `error` names it when malformed.
std::string language_param(const http::request& req, std::string& error) {
  auto i = req.query.find("language");
  if (i == req.query.end() || i->second.empty()) {
    return {};
  }
  auto language = normalize_language(i->second);
  if (!valid_language(language)) {
    error = "query parameter 'language' must be a language tag like \"en\" or \"pt-br\"";
  }
  return language;
}

/// The answer for a failed call, or for a store reply that is not the JSON it promised.
http::response from_outcome(const outcome& o) {
  return rest::fail(o.status, o.error);
}

/// The templates REST API: one handler per route, the routes and their credentials in
/// `routes()`.
struct templates_api {
  caf::actor_system& sys;
  caf::actor cache;
  caf::actor store;

  static const std::vector<access::route<templates_api>>& routes() {
    using auth::scope;
    static const std::vector<access::route<templates_api>> table{
      {"POST", "/api/v1/templates", auth::key(scope::templates_write), &templates_api::create},
      {"GET", "/api/v1/templates", auth::key(scope::templates_read), &templates_api::list},
      {"GET", "/api/v1/templates/{code}", auth::key(scope::templates_read), &templates_api::read},
      {"PUT", "/api/v1/templates/{code}", auth::key(scope::templates_write),
       &templates_api::add_version},
      {"GET", "/api/v1/templates/{code}/versions", auth::key(scope::templates_read),
       &templates_api::versions},
      {"POST", "/api/v1/templates/{code}/render", auth::key(scope::templates_read),
       &templates_api::render},
    };
    return table;
  }

  void create(access::call&& c, http::reply_fn reply) {
    auto body = rest::parse_object(c.req.body, reply);
    if (!body) {
      return;
    }
    auto v = parse_new_template(*body);
    if (!v.value) {
      reply(rest::fail(v.status, v.error));
      return;
    }
    ask(sys, cache, service_timeout,
        [reply](outcome& o, template_record& created) {
          reply(o.ok() ? rest::ok(201, to_json(created), "template created") : from_outcome(o));
        },
        rest::unavailable(reply, "templates service"), create_atom::value, *v.value);
  }

  void list(access::call&& c, http::reply_fn reply) {
    std::string error;
    auto page = rest::parse_page(c.req.query, error);
    if (!page) {
      reply(rest::fail(400, error));
      return;
    }
    std::string channel;
    if (auto i = c.req.query.find("channel"); i != c.req.query.end() && !i->second.empty()) {
      channel = i->second;
      if (channel != "email" && channel != "push") {
        reply(rest::fail(400, "query parameter 'channel' must be \"email\" or \"push\""));
        return;
      }
    }
    ask(sys, store, service_timeout,
        [reply, page = *page](outcome& o, std::string& listing) {
          if (!o.ok()) {
            reply(from_outcome(o));
            return;
          }
          auto j = json::parse(listing);
          reply(rest::ok(200, j["items"], "templates",
                         rest::page_meta(j["total"].get<long long>(), page.page, page.limit)));
        },
        rest::unavailable(reply, "templates service"), list_atom::value, channel, page->page,
        page->limit);
  }

  void read(access::call&& c, http::reply_fn reply) {
    std::string error;
    auto language = language_param(c.req, error);
    auto version = parse_version_param(c.req.query);
    if (error.empty()) {
      error = version.error;
    }
    if (!error.empty()) {
      reply(rest::fail(400, error));
      return;
    }
    ask(sys, cache, service_timeout,
        [reply, language](outcome& o, template_record& t) {
          if (!o.ok()) {
            reply(from_outcome(o));
            return;
          }
          auto message = !language.empty() && language != t.language
                           ? "template found; no '" + language + "' version, served '"
                               + t.language + "'"
                           : std::string{"template found"};
          reply(rest::ok(200, to_json(t), message));
        },
        rest::unavailable(reply, "templates service"), lookup_atom::value,
        c.req.params["code"], std::vector<std::string>{language}, version.version);
  }

  void add_version(access::call&& c, http::reply_fn reply) {
    auto body = rest::parse_object(c.req.body, reply);
    if (!body) {
      return;
    }
    auto code = c.req.params["code"];
    auto patch = parse_template_patch(*body, code);
    if (!patch.value) {
      reply(rest::fail(patch.status, patch.error));
      return;
    }
    if (!patch_changes_content(*patch.value) && !patch.value->contains("default_language")) {
      reply(rest::fail(400, "the body changes nothing: give a template field to change "
                            "(e.g. 'subject' or 'body') or 'default_language'"));
      return;
    }
    ask(sys, cache, service_timeout,
        [reply](outcome& o, template_record& saved, bool created) {
          if (!o.ok()) {
            reply(from_outcome(o));
            return;
          }
          reply(created ? rest::ok(201, to_json(saved), "version created")
                        : rest::ok(200, to_json(saved), "default language changed"));
        },
        rest::unavailable(reply, "templates service"), update_atom::value, code,
        patch.value->dump());
  }

  void versions(access::call&& c, http::reply_fn reply) {
    std::string error;
    auto language = language_param(c.req, error);
    auto page = error.empty() ? rest::parse_page(c.req.query, error) : std::nullopt;
    if (!page) {
      reply(rest::fail(400, error));
      return;
    }
    ask(sys, store, service_timeout,
        [reply, page = *page](outcome& o, std::string& listing) {
          if (!o.ok()) {
            reply(from_outcome(o));
            return;
          }
          auto j = json::parse(listing);
          auto meta = rest::page_meta(j["total"].get<long long>(), page.page, page.limit);
          meta["language"] = j["language"];
          meta["default_language"] = j["default_language"];
          reply(rest::ok(200, j["items"], "versions, newest first", meta));
        },
        rest::unavailable(reply, "templates service"), versions_atom::value,
        c.req.params["code"], language, page->page, page->limit);
  }

  void render(access::call&& c, http::reply_fn reply) {
    auto body = rest::parse_object(c.req.body, reply);
    if (!body) {
      return;
    }
    for (auto& [name, value] : body->items()) {
      if (name != "variables" && name != "language" && name != "version") {
        reply(rest::fail(400, "unknown field '" + name + "'"));
        return;
      }
    }
    auto variables = body->value("variables", json::object());
    if (variables.is_null()) {
      variables = json::object();
    }
    if (!variables.is_object()) {
      reply(rest::fail(400, std::string{"field 'variables' must be an object, got "}
                              + json_type_name(variables)));
      return;
    }
    std::string language;
    if (auto e = read_string_field(*body, "language", false, 35, language); !e.empty()) {
      reply(rest::fail(400, e));
      return;
    }
    language = normalize_language(language);
    if (!language.empty() && !valid_language(language)) {
      reply(rest::fail(400, "field 'language' must be a language tag like \"en\" or \"pt-br\""));
      return;
    }
    auto version = parse_version_field(*body);
    if (!version.error.empty()) {
      reply(rest::fail(400, version.error));
      return;
    }
    ask(sys, cache, service_timeout,
        [reply](outcome& o, template_record& t, std::string& rendered) {
          if (!o.ok()) {
            reply(from_outcome(o));
            return;
          }
          auto data = json::parse(rendered);
          data["default_language"] = t.default_language;
          reply(rest::ok(200, data,
                         data["missing_variables"].empty()
                           ? "rendered"
                           : "rendered; some declared variables are missing"));
        },
        rest::unavailable(reply, "templates service"), render_atom::value, c.req.params["code"],
        std::vector<std::string>{language}, version.version, variables.dump());
  }
};

} // namespace

void add_template_routes(http::server& server, caf::actor_system& sys,
                         std::shared_ptr<const access::gate> gate,
                         const template_service& templates) {
  access::mount(server, std::move(gate),
                std::make_shared<templates_api>(
                  templates_api{sys, templates.cache, templates.store.pool}),
                templates_api::routes());
}

std::vector<access::route_row> template_route_rules() {
  return access::rows("templates", templates_api::routes());
}

} // namespace herald
