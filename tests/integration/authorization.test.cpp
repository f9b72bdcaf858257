// Credentials on every route of every service: the route tables walked as data with no, a
// wrong, a too-weak and the right credential; login tokens against their own and other
// users' resources; API keys created, listed, revoked (on this node at once, on another
// node within a second) and stored only as digests; open registration; auth.required off;
// no admin token configured.

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <functional>
#include <iostream>
#include <optional>

#include "actors/common/ids.hpp"
#include "actors/node/node.hpp"
#include "adapters/postgres/session.hpp"
#include "runtime/auth/api_key.hpp"
#include "runtime/auth/jwt.hpp"
#include "runtime/time/rfc3339.hpp"
#include "support/herald_api.hpp"

using namespace herald::test;
using json = nlohmann::json;
namespace auth = herald::auth;
using rule_kind = auth::rule::kind;

namespace {


/// A login token for `user_id`, as POST /api/v1/users/login issues it.
std::string login_token(const std::string& user_id) {
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
               .count();
  return auth::jwt::sign({{"sub", user_id}, {"exp", now + 600}, {"iss", "herald"}}, jwt_secret);
}

/// Creates an API key with `scopes` through `node` (admin token); answers the whole data.
json create_key(const running_node& node, const std::vector<std::string>& scopes,
                const std::string& name = "test key") {
  auto r = http_call("POST", node.url() + "/api/v1/api-keys",
                     json{{"name", name}, {"scopes", scopes}}.dump());
  BOOST_TEST_CONTEXT("create key: " << r.raw) {
    BOOST_REQUIRE_EQUAL(r.status, 201);
  }
  return r.body["data"];
}

/// The names of every scope but `excluded`.
std::vector<std::string> scopes_but(std::optional<auth::scope> excluded) {
  std::vector<std::string> out;
  for (auto& s : auth::known_scopes()) {
    if (s.value != excluded) {
      out.emplace_back(s.name);
    }
  }
  return out;
}

void check_401(const http_reply& r, const std::string& mentions) {
  check_error(r, 401, mentions);
  BOOST_CHECK_NE(r.headers.count("WWW-Authenticate"), 0u);
}

/// One request on a route, made afresh for each attempt (a DELETE consumes what it
/// deletes); it answers 2xx when its credential is admitted.
struct route_request {
  std::string method;
  std::string url;
  std::string body;
};

struct authz_fixture {
  explicit authz_fixture(const std::map<std::string, std::string>& overrides = {})
    : node(overrides) {}

  running_node node;

  std::string users(const std::string& path = {}) const {
    return node.url(1) + "/api/v1/users" + path;
  }

  http_reply send(const route_request& r, const std::map<std::string, std::string>& headers) {
    return http_call(r.method, r.url, r.body, headers);
  }
};

/// The walk over every route: for each, how to make a request about user `subject`.
struct route_walk : authz_fixture {
  route_walk() {
    other_user = create_user(node);
    code = create_email_template(node);
    for (auto& s : auth::known_scopes()) {
      only[s.value] = create_key(node, {std::string{s.name}})["key"].get<std::string>();
      all_but[s.value] = create_key(node, scopes_but(s.value))["key"].get<std::string>();
    }
    all_scopes = create_key(node, scopes_but(std::nullopt))["key"].get<std::string>();
  }

  std::string push_token(const std::string& subject, const std::string& value) {
    auto r = post_json(users("/" + subject + "/push_tokens"), {{"type", "fcm"}, {"token", value}});
    BOOST_REQUIRE_EQUAL(r.status, 201);
    return r.body["data"]["id"].get<std::string>();
  }

  /// A notification to `subject` whose record can be read already.
  std::string readable_notification(const std::string& subject) {
    auto id = post_notification(node, subject, code, {{"name", "x"}});
    BOOST_REQUIRE(eventually([&] { return !status_of(node, id).empty(); }));
    return id;
  }

  /// A notification to `subject` scheduled a day ahead (so it can still be cancelled).
  std::string scheduled_notification(const std::string& subject) {
    auto at = herald::time::now() + std::chrono::hours{24};
    json body{{"notification_type", "email"},
              {"user_id", subject},
              {"template_code", code},
              {"variables", {{"name", "x"}}},
              {"send_at", herald::time::format_rfc3339(at)}};
    auto r = post_json(node.url() + "/api/v1/notifications", body);
    BOOST_REQUIRE_EQUAL(r.status, 202);
    BOOST_REQUIRE(r.body["data"]["status"] == "scheduled");
    return r.body["data"]["notification_id"].get<std::string>();
  }

  /// The id of a fresh dead letter (a message for a template that does not exist,
  /// published past the gateway's check, ends in failed.queue at once).
  std::string dead_letter() {
    auto id = herald::make_uuid();
    publish_direct({{"notification_id", id}, {"notification_type", "email"},
                    {"user_id", other_user}, {"template_code", unique("missing-")},
                    {"variables", json::object()}, {"correlation_id", "walk-" + id},
                    {"attempt", 1}});
    std::string letter;
    BOOST_REQUIRE(eventually([&] {
      auto r = http_call("GET", node.url() + "/api/v1/dead-letters?limit=100");
      for (auto& d : r.body["data"]) {
        if (d["notification_id"].is_string() && d["notification_id"] == id) { // null: unreadable
          letter = d["id"].get<std::string>();
        }
      }
      return !letter.empty();
    }));
    return letter;
  }

  /// Makes a request on the route `method pattern` about `subject`.
  route_request make(const std::string& method, const std::string& pattern,
                     const std::string& subject) {
    auto g = node.url();
    auto t = node.url(2) + "/api/v1/templates";
    auto fcm_value = unique("fcm-") + ":APA91b" + std::string(40, 'k');
    std::map<std::string, std::function<route_request()>> requests{
      {"POST /api/v1/notifications",
       [&] {
         return route_request{method, g + "/api/v1/notifications",
                              json{{"notification_type", "email"},
                                   {"user_id", subject},
                                   {"template_code", code},
                                   {"variables", {{"name", "x"}}}}
                                .dump()};
       }},
      {"GET /api/v1/notifications/{id}",
       [&] {
         return route_request{method, g + "/api/v1/notifications/" + readable_notification(subject)};
       }},
      {"GET /api/v1/notifications",
       [&] { return route_request{method, g + "/api/v1/notifications?user_id=" + subject}; }},
      {"POST /api/v1/notifications/bulk",
       [&] {
         return route_request{method, g + "/api/v1/notifications/bulk",
                              json{{"notifications",
                                    {{{"notification_type", "email"},
                                      {"user_id", subject},
                                      {"template_code", code},
                                      {"variables", {{"name", "x"}}}}}}}
                                .dump()};
       }},
      {"DELETE /api/v1/notifications/{id}",
       [&] {
         return route_request{method, g + "/api/v1/notifications/" + scheduled_notification(subject)};
       }},
      {"GET /openapi.json", [&] { return route_request{method, g + "/openapi.json"}; }},
      {"GET /api/v1/introspection/actors",
       [&] { return route_request{method, g + "/api/v1/introspection/actors"}; }},
      {"POST /api/v1/api-keys",
       [&] {
         return route_request{method, g + "/api/v1/api-keys",
                              json{{"name", "walk"}, {"scopes", {"users:read"}}}.dump()};
       }},
      {"GET /api/v1/api-keys", [&] { return route_request{method, g + "/api/v1/api-keys"}; }},
      {"DELETE /api/v1/api-keys/{id}",
       [&] {
         return route_request{method, g + "/api/v1/api-keys/"
                                        + create_key(node, {"users:read"})["id"].get<std::string>()};
       }},
      {"GET /api/v1/dead-letters", [&] { return route_request{method, g + "/api/v1/dead-letters"}; }},
      {"GET /api/v1/dead-letters/{id}",
       [&] { return route_request{method, g + "/api/v1/dead-letters/" + dead_letter()}; }},
      {"POST /api/v1/dead-letters/{id}/replay",
       [&] {
         return route_request{method, g + "/api/v1/dead-letters/" + dead_letter() + "/replay"};
       }},
      {"POST /api/v1/dead-letters/replay",
       [&] {
         return route_request{method, g + "/api/v1/dead-letters/replay",
                              json{{"reason", "unknown_template"}, {"limit", 1}}.dump()};
       }},
      {"GET /api/v1/users/stats", [&] { return route_request{method, users("/stats")}; }},
      {"POST /api/v1/users/login",
       [&] {
         auto email = unique("login-") + "@example.com";
         create_user(node, {{"email", email}, {"password", "walk the routes"}});
         return route_request{method, users("/login"),
                              json{{"email", email}, {"password", "walk the routes"}}.dump()};
       }},
      {"POST /api/v1/users",
       [&] {
         return route_request{method, users(),
                              json{{"email", unique("new-") + "@example.com"}, {"name", "N"}}.dump()};
       }},
      {"GET /api/v1/users", [&] { return route_request{method, users()}; }},
      {"GET /api/v1/users/{id}", [&] { return route_request{method, users("/" + subject)}; }},
      {"PATCH /api/v1/users/{id}",
       [&] { return route_request{method, users("/" + subject), json{{"name", "Renamed"}}.dump()}; }},
      {"DELETE /api/v1/users/{id}", [&] { return route_request{method, users("/" + subject)}; }},
      {"PUT /api/v1/users/{id}/preferences",
       [&] {
         return route_request{method, users("/" + subject + "/preferences"),
                              json{{"push", false}}.dump()};
       }},
      {"GET /api/v1/users/{id}/push_tokens",
       [&] { return route_request{method, users("/" + subject + "/push_tokens")}; }},
      {"POST /api/v1/users/{id}/push_tokens",
       [&] {
         return route_request{method, users("/" + subject + "/push_tokens"),
                              json{{"type", "fcm"}, {"token", fcm_value}}.dump()};
       }},
      {"DELETE /api/v1/users/{id}/push_tokens/{token_id}",
       [&] {
         return route_request{method, users("/" + subject + "/push_tokens/"
                                            + push_token(subject, fcm_value))};
       }},
      {"DELETE /api/v1/users/{id}/push_tokens",
       [&] {
         push_token(subject, fcm_value);
         return route_request{method, users("/" + subject + "/push_tokens"),
                              json{{"token", fcm_value}}.dump()};
       }},
      {"POST /api/v1/templates",
       [&] {
         return route_request{method, t,
                              json{{"template_code", unique("walk-")},
                                   {"channel", "email"},
                                   {"subject", "S"},
                                   {"body", "B"}}
                                .dump()};
       }},
      {"GET /api/v1/templates", [&] { return route_request{method, t}; }},
      {"GET /api/v1/templates/{code}", [&] { return route_request{method, t + "/" + code}; }},
      {"PUT /api/v1/templates/{code}",
       [&] { return route_request{method, t + "/" + code, json{{"subject", "Again"}}.dump()}; }},
      {"GET /api/v1/templates/{code}/versions",
       [&] { return route_request{method, t + "/" + code + "/versions"}; }},
      {"POST /api/v1/templates/{code}/render",
       [&] {
         return route_request{method, t + "/" + code + "/render",
                              json{{"variables", {{"name", "x"}}}}.dump()};
       }},
    };
    auto i = requests.find(method + " " + pattern);
    BOOST_TEST_REQUIRE((i != requests.end()),
                       "the walk has no request for " << method << " " << pattern);
    return i->second();
  }

  std::string other_user;
  std::string code;
  std::map<auth::scope, std::string> only;    ///< a key with just this scope
  std::map<auth::scope, std::string> all_but; ///< a key with every other scope
  std::string all_scopes;
};

bool is_2xx(const http_reply& r) {
  return r.status >= 200 && r.status < 300;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(authorization_routes, route_walk)

BOOST_AUTO_TEST_CASE(every_route_refuses_no_wrong_or_weak_credentials_and_admits_the_right_one) {
  auto rows = herald::route_rules();
  BOOST_TEST_REQUIRE(rows.size() >= 24u);
  auto junk_key = auth::generate_api_key().key;
  for (auto& row : rows) {
    BOOST_TEST_CONTEXT(row.method << " " << row.pattern) {
      auto& rule = row.rule;
      auto fresh = [&] { return make(row.method, row.pattern, create_user(node)); };
      if (rule.what == rule_kind::open) {
        auto r = send(fresh(), no_credential);
        BOOST_TEST(is_2xx(r), r.raw);
        r = send(fresh(), bearer(junk_key)); // not read on an open route
        BOOST_TEST(is_2xx(r), r.raw);
        continue;
      }
      check_401(send(fresh(), no_credential), "missing credential");
      check_401(send(fresh(), bearer(junk_key)), "unknown or revoked API key");
      check_401(send(fresh(), bearer("not.a.token")), "invalid bearer token");
      auto r = send(fresh(), {}); // http_call's default: the admin token
      BOOST_TEST(is_2xx(r), "admin token: " << r.raw);
      if (rule.what == rule_kind::admin) {
        check_error(send(fresh(), bearer(all_scopes)), 403, "admin token");
        check_error(send(fresh(), bearer(login_token(other_user))), 403, "admin token");
        continue;
      }
      check_error(send(fresh(), bearer(all_but[rule.needs])), 403, "lacks the scope");
      r = send(fresh(), bearer(only[rule.needs]));
      BOOST_TEST(is_2xx(r), "key with just " << auth::scope_name(rule.needs) << ": " << r.raw);
      r = send(fresh(), {{"X-API-Key", only[rule.needs]}});
      BOOST_TEST(is_2xx(r), "X-API-Key: " << r.raw);
      // Login tokens: on the user's own resources, and on another user's.
      auto subject = create_user(node);
      auto own = send(make(row.method, row.pattern, subject), bearer(login_token(subject)));
      auto others = send(make(row.method, row.pattern, subject), bearer(login_token(other_user)));
      if (rule.what == rule_kind::key_or_self || rule.what == rule_kind::key_or_user) {
        BOOST_TEST(is_2xx(own), "own login token: " << own.raw);
        check_error(others, 403, "own user");
      } else {
        check_error(own, 403, "needs an API key with the scope");
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(health_needs_no_credential_on_any_port) {
  for (auto port : {0, 1, 2, 3}) {
    BOOST_TEST(http_call("GET", node.url(port) + "/health", {}, no_credential).status == 200);
    BOOST_TEST(http_call("GET", node.url(port) + "/health/ready", {}, no_credential).status == 200);
  }
}

BOOST_AUTO_TEST_CASE(a_refused_delete_deletes_nothing) {
  auto subject = create_user(node);
  check_error(http_call("DELETE", users("/" + subject), {}, bearer(login_token(other_user))), 403,
              "own user");
  check_error(http_call("DELETE", users("/" + subject), {}, bearer(only[auth::scope::users_read])),
              403, "users:write");
  BOOST_TEST(http_call("GET", users("/" + subject)).status == 200);
}

BOOST_AUTO_TEST_CASE(a_login_token_sends_and_reads_only_its_own_notifications) {
  auto mine = create_user(node);
  auto token = bearer(login_token(mine));
  auto notify = [&](const std::string& user_id) {
    return http_call("POST", node.url() + "/api/v1/notifications",
                     json{{"notification_type", "email"},
                          {"user_id", user_id},
                          {"template_code", code},
                          {"variables", {{"name", "x"}}}}
                       .dump(),
                     token);
  };
  auto sent = notify(mine);
  BOOST_TEST_REQUIRE(sent.status == 202, sent.raw);
  check_error(notify(other_user), 403, "only to its own user");
  auto theirs = readable_notification(other_user);
  check_error(http_call("GET", node.url() + "/api/v1/notifications/" + theirs, {}, token), 403,
              "its own user's notifications");
  auto id = sent.body["data"]["notification_id"].get<std::string>();
  BOOST_TEST(eventually([&] {
    return http_call("GET", node.url() + "/api/v1/notifications/" + id, {}, token).status == 200;
  }));
}

BOOST_AUTO_TEST_SUITE_END()

// -- API keys ------------------------------------------------------------------------------

BOOST_FIXTURE_TEST_SUITE(authorization_api_keys, authz_fixture)

BOOST_AUTO_TEST_CASE(a_key_is_shown_once_listed_without_its_secret_and_revoked) {
  auto name = unique("billing-");
  auto created = create_key(node, {"users:read", "notifications:write"}, name);
  auto key = created["key"].get<std::string>();
  BOOST_TEST(key.substr(0, 3) == "hk_");
  BOOST_TEST(created["prefix"] == key.substr(0, 11));
  BOOST_TEST(created["name"] == name);
  BOOST_TEST(created["scopes"] == json({"notifications:write", "users:read"}));
  BOOST_TEST(created["created_at"].is_string());
  auto id = created["id"].get<std::string>();
  BOOST_TEST(http_call("GET", users(), {}, bearer(key)).status == 200); // usable at once

  auto list = http_call("GET", node.url() + "/api/v1/api-keys?limit=100");
  BOOST_TEST_REQUIRE(list.status == 200, list.raw);
  BOOST_TEST(list.raw.find(key) == std::string::npos);
  BOOST_TEST(list.body["meta"]["limit"] == 100);
  for (auto field : {"total", "page", "total_pages", "has_next", "has_previous"}) {
    BOOST_TEST(list.body["meta"].contains(field), field);
  }
  json listed;
  for (auto& k : list.body["data"]) {
    if (k["id"] == id) {
      listed = k;
    }
  }
  BOOST_TEST_REQUIRE(listed.is_object(), "the new key is listed");
  BOOST_TEST(!listed.contains("key"));
  BOOST_TEST(listed["prefix"] == created["prefix"]);

  auto revoked = http_call("DELETE", node.url() + "/api/v1/api-keys/" + id);
  BOOST_TEST(revoked.status == 200, revoked.raw);
  BOOST_TEST(revoked.body["data"] == json({{"id", id}, {"revoked", true}}));
  // Refused on this node from the answer on, and gone from the list.
  check_401(http_call("GET", users(), {}, bearer(key)), "unknown or revoked API key");
  check_error(http_call("DELETE", node.url() + "/api/v1/api-keys/" + id), 404, id);
  check_error(http_call("DELETE", node.url() + "/api/v1/api-keys/" + herald::make_uuid()), 404,
              "no API key");
  check_error(http_call("DELETE", node.url() + "/api/v1/api-keys/not-a-uuid"), 404, "no API key");
  auto after = http_call("GET", node.url() + "/api/v1/api-keys?limit=100");
  BOOST_TEST(after.raw.find(id) == std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_bad_key_request_is_a_400_naming_the_problem) {
  auto post = [&](const json& body) {
    return http_call("POST", node.url() + "/api/v1/api-keys", body.dump());
  };
  check_error(post({{"name", "x"}, {"scopes", {"users:read", "users:admin"}}}), 400,
              "unknown scope 'users:admin'");
  check_error(post({{"name", "x"}, {"scopes", json::array()}}), 400, "'scopes'");
  check_error(post({{"scopes", {"users:read"}}}), 400, "'name'");
  check_error(post({{"name", "x"}, {"scopes", {"users:read"}}, {"key", "hk_chosen"}}), 400,
              "unknown field 'key'");
  check_error(http_call("GET", node.url() + "/api/v1/api-keys?limit=0"), 400, "'limit'");
}

BOOST_AUTO_TEST_CASE(keys_are_stored_only_as_sha256_digests) {
  auto created = create_key(node, {"templates:read"});
  auto key = created["key"].get<std::string>();
  herald::postgres::session db{herald::postgres::database_url(env("HERALD_TEST_PG_URL"), "user_db")};
  std::string row_text;
  std::string digest;
  auto r = db.read([&](pqxx::work& tx) {
    auto rows = tx.exec_params("SELECT key_sha256, row_to_json(k)::text AS row FROM api_keys k "
                               "WHERE id = $1",
                               created["id"].get<std::string>());
    BOOST_REQUIRE_EQUAL(rows.size(), 1u);
    digest = rows[0]["key_sha256"].c_str();
    row_text = rows[0]["row"].c_str();
  });
  BOOST_REQUIRE_MESSAGE(r.ok(), r.detail);
  BOOST_TEST(digest == auth::to_hex(auth::sha256(key)));
  BOOST_TEST(row_text.find(key) == std::string::npos, row_text);
  BOOST_TEST(row_text.find(key.substr(11)) == std::string::npos, "nothing past the prefix");
}

BOOST_AUTO_TEST_CASE(a_revoked_key_is_refused_on_another_node_within_a_second) {
  auto created = create_key(node, {"users:read"});
  auto key = bearer(created["key"].get<std::string>());
  running_node other{{{"HERALD_HTTP_PORT_BASE", env("HERALD_TEST_HTTP_PORT_BASE2")},
                      {"HERALD_ROLES", "gateway,users,templates"}}};
  auto users_there = other.url(1) + "/api/v1/users";
  BOOST_TEST_REQUIRE(http_call("GET", users_there, {}, key).status == 200);
  auto revoke = http_call("DELETE", node.url() + "/api/v1/api-keys/" + created["id"].get<std::string>());
  BOOST_TEST_REQUIRE(revoke.status == 200, revoke.raw);
  auto revoked_at = std::chrono::steady_clock::now();
  auto refused = eventually([&] { return http_call("GET", users_there, {}, key).status == 401; },
                            std::chrono::seconds{1});
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now()
                                                                    - revoked_at);
  std::cerr << "revocation reached the other node after " << took.count() << " ms\n";
  BOOST_TEST(refused, "still accepted on the other node after " << took.count() << " ms");
}

BOOST_AUTO_TEST_SUITE_END()

// -- settings ------------------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(authorization_settings)

BOOST_AUTO_TEST_CASE(creating_users_needs_a_key_unless_registration_is_open) {
  auto body = [] { return json{{"email", unique("signup-") + "@example.com"}, {"name", "S"}}.dump(); };
  {
    authz_fixture closed;
    check_401(http_call("POST", closed.users(), body(), no_credential), "missing credential");
    check_error(http_call("POST", closed.users(), body(), bearer(login_token(herald::make_uuid()))),
                403, "users:write");
  }
  authz_fixture open{{{"HERALD_USERS_OPEN_REGISTRATION", "true"}}};
  auto r = http_call("POST", open.users(), body(), no_credential);
  BOOST_TEST(r.status == 201, r.raw);
  // Only creating is open: reading the new user still needs a credential.
  check_401(http_call("GET", open.users("/" + r.body["data"]["id"].get<std::string>()), {},
                      no_credential),
            "missing credential");
}

BOOST_AUTO_TEST_CASE(with_auth_not_required_no_credential_passes_but_a_given_one_is_checked) {
  authz_fixture dev{{{"HERALD_AUTH_REQUIRED", "false"}}};
  auto created = http_call("POST", dev.users(),
                           json{{"email", unique("dev-") + "@example.com"}, {"name", "D"}}.dump(),
                           no_credential);
  BOOST_TEST_REQUIRE(created.status == 201, created.raw);
  BOOST_TEST(http_call("GET", dev.users(), {}, no_credential).status == 200);
  BOOST_TEST(http_call("GET", dev.node.url(2) + "/api/v1/templates", {}, no_credential).status
             == 200);
  check_401(http_call("GET", dev.users(), {}, bearer(auth::generate_api_key().key)),
            "unknown or revoked API key");
  auto weak = create_key(dev.node, {"templates:read"})["key"].get<std::string>();
  check_error(http_call("GET", dev.users(), {}, bearer(weak)), 403, "users:read");
  // API keys are always the admin's.
  check_401(http_call("GET", dev.node.url() + "/api/v1/api-keys", {}, no_credential),
            "missing credential");
}

BOOST_AUTO_TEST_CASE(without_an_admin_token_keys_cannot_be_managed) {
  authz_fixture none{{{"HERALD_ADMIN_TOKEN", ""}}};
  for (auto& headers : {no_credential, bearer(admin_token), bearer("anything")}) {
    check_error(http_call("GET", none.node.url() + "/api/v1/api-keys", {}, headers), 403,
                "auth.admin_token");
  }
  // Nothing else is the admin: the former admin token is no credential now.
  check_401(http_call("GET", none.users(), {}, bearer(admin_token)), "invalid bearer token");
}

BOOST_AUTO_TEST_SUITE_END()
