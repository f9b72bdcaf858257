// The users REST API (port base + 1): HTTP in, messages to the store workers and the
// password hashers out; who may call which route is in users_api::routes().

#include <algorithm>
#include <cctype>
#include <chrono>
#include <memory>

#include "actors/common/access.hpp"
#include "actors/common/ask.hpp"
#include "actors/common/ids.hpp"
#include "actors/common/rest.hpp"
#include "actors/user_lookup/password_hasher.hpp"
#include "actors/user_lookup/user_lookup.hpp"
#include "actors/user_lookup/user_requests.hpp"
#include "runtime/auth/attempt_limiter.hpp"
#include "runtime/auth/jwt.hpp"

namespace herald {

namespace {

using json = nlohmann::json;

/// Runs `steps` in a short-lived actor, for answers that take more than one service call
/// (hash, then store). The handlers of its last request quit it. Like `ask`, drops the
/// logger pin of the spawning HTTP thread.
template <class Steps>
void run_in_actor(caf::actor_system& sys, Steps steps) {
  sys.spawn([steps](caf::event_based_actor* self) { steps(self); });
  caf::logger::set_current_actor_system(nullptr);
}

/// The error handler of a request made in `run_in_actor`: 503, then quit.
auto unavailable_in(caf::event_based_actor* self, http::reply_fn reply) {
  return [self, reply](caf::error& e) {
    reply(rest::fail(503, "users service: " + self->system().render(e)));
    self->quit();
  };
}

/// Hashes `password` on the hashers (skipped when empty), then calls `next(self, hash)`
/// in the same actor; `next` makes the final request.
template <class Next>
void hash_then(caf::actor_system& sys, caf::actor hashers, std::string password,
               http::reply_fn reply, Next next) {
  run_in_actor(sys, [=](caf::event_based_actor* self) {
    if (password.empty()) {
      next(self, std::string{});
      return;
    }
    self->request(hashers, service_timeout, hash_atom::value, password)
      .then(
        [=](outcome& o, std::string& hash) {
          if (!o.ok()) {
            reply(rest::fail(o.status, o.error));
            self->quit();
            return;
          }
          next(self, hash);
        },
        unavailable_in(self, reply));
  });
}

json preferences_json(const user_profile& p) {
  return to_json(p)["preferences"];
}

/// The answer to a call that yields a profile.
http::response profile_answer(const outcome& o, const user_profile& p, const char* message) {
  return o.ok() ? rest::ok(o.status, to_json(p), message) : rest::fail(o.status, o.error);
}

/// Sums the named counters of the pool's workers ("user_lookup/0", ...).
json pool_stats(const runtime::registry& registry, const std::string& pool) {
  json workers = json::array();
  json totals = {{"processed", 0}, {"failed", 0}, {"restarts", 0}};
  for (auto& e : registry.snapshot()) {
    auto name = e.value("name", "");
    if (name.rfind(pool + "/", 0) != 0 || e.value("kind", "") != "worker") {
      continue;
    }
    for (auto key : {"processed", "failed", "restarts"}) {
      totals[key] = totals[key].get<std::uint64_t>() + e[key].get<std::uint64_t>();
    }
    for (auto& [counter, value] : e["counters"].items()) {
      totals[counter] = totals.value(counter, std::uint64_t{0}) + value.get<std::uint64_t>();
    }
    workers.push_back(e);
  }
  return {{"totals", totals}, {"workers", workers}};
}


/// The users REST API: one handler per route, the routes and their credentials in
/// `routes()`. Handlers never block: each answer comes from a continuation.
struct users_api {
  users_api(node_context& ctx, caf::actor users, caf::actor hashers)
    : sys(ctx.system), registry(ctx.registry), users(std::move(users)),
      hashers(std::move(hashers)), secret(ctx.settings.get("jwt.secret")),
      token_ttl(ctx.settings.get_int("jwt.ttl_s")),
      per_client(static_cast<std::size_t>(ctx.settings.get_int("users.login_attempts_per_client"))),
      per_address(
        static_cast<std::size_t>(ctx.settings.get_int("users.login_attempts_per_address"))),
      endpoints{ctx.settings.get_bool("push.allow_insecure_endpoints")} {}

  static const std::vector<access::route<users_api>>& routes() {
    using auth::scope;
    static const std::vector<access::route<users_api>> table{
      // Fixed paths first: they would otherwise match /api/v1/users/{id}.
      {"GET", "/api/v1/users/stats", auth::key(scope::introspection_read), &users_api::stats},
      {"POST", "/api/v1/users/login", auth::open(), &users_api::login},
      {"POST", "/api/v1/users", auth::registration(scope::users_write), &users_api::create},
      {"GET", "/api/v1/users", auth::key(scope::users_read), &users_api::list},
      {"GET", "/api/v1/users/{id}", auth::key_or_self(scope::users_read, "id"),
       &users_api::read},
      {"PATCH", "/api/v1/users/{id}", auth::key_or_self(scope::users_write, "id"),
       &users_api::change},
      {"DELETE", "/api/v1/users/{id}", auth::key_or_self(scope::users_write, "id"),
       &users_api::remove},
      {"PUT", "/api/v1/users/{id}/preferences", auth::key_or_self(scope::users_write, "id"),
       &users_api::set_preferences},
      {"GET", "/api/v1/users/{id}/push_tokens", auth::key_or_self(scope::users_read, "id"),
       &users_api::list_tokens},
      {"POST", "/api/v1/users/{id}/push_tokens", auth::key_or_self(scope::users_write, "id"),
       &users_api::add_token},
      {"DELETE", "/api/v1/users/{id}/push_tokens/{token_id}",
       auth::key_or_self(scope::users_write, "id"), &users_api::remove_token_by_id},
      {"DELETE", "/api/v1/users/{id}/push_tokens", auth::key_or_self(scope::users_write, "id"),
       &users_api::remove_token_by_value},
    };
    return table;
  }

  std::function<void(const std::string&)> unavailable(const http::reply_fn& reply) const {
    return rest::unavailable(reply, "users service");
  }

  void stats(access::call&&, http::reply_fn reply) {
    reply(rest::ok(200,
                   {{"user_lookup", pool_stats(registry, "user_lookup")},
                    {"password_hasher", pool_stats(registry, "password_hasher")}},
                   "users service counters"));
  }

  void login(access::call&& c, http::reply_fn reply) {
    auto login = rest::read_body(c.req.body, reply, parse_login);
    if (!login) {
      return;
    }
    if (secret.empty()) {
      reply(rest::fail(503, "jwt.secret is not configured (HERALD_JWT_SECRET): login is disabled"));
      return;
    }
    auto address = login->email;
    std::transform(address.begin(), address.end(), address.begin(),
                   [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
    std::string limited;
    auto wait = per_client.admit(c.req.client);
    if (wait.count() > 0) {
      limited = "too many login attempts from this client";
    } else if (wait = per_address.admit(address); wait.count() > 0) {
      limited = "too many login attempts for this email address";
    }
    if (!limited.empty()) {
      auto r = rest::fail(429, limited + "; try again in " + std::to_string(wait.count()) + " s");
      r.headers.emplace_back("Retry-After", std::to_string(wait.count()));
      reply(r);
      return;
    }
    run_in_actor(sys, [=, users = users, hashers = hashers, secret = secret,
                       token_ttl = token_ttl](caf::event_based_actor* self) {
      self->request(users, service_timeout, credentials_atom::value, login->email)
        .then(
          [=](outcome& found, std::string& id, std::string& email, std::string& hash) {
            if (!found.ok() && found.status != 404) {
              reply(rest::fail(found.status, found.error));
              self->quit();
              return;
            }
            // Unknown address or no password: checked against nothing at the same cost,
            // and answered like a wrong password.
            self->request(hashers, service_timeout, verify_atom::value, login->password, hash)
              .then(
                [=](outcome& checked, bool match) {
                  if (!checked.ok()) {
                    reply(rest::fail(checked.status, checked.error));
                  } else if (!match || hash.empty()) {
                    reply(rest::fail(401, "invalid email or password"));
                  } else {
                    auto now = std::chrono::duration_cast<std::chrono::seconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
                    auto token = auth::jwt::sign({{"sub", id},
                                                  {"email", email},
                                                  {"iat", now},
                                                  {"exp", now + token_ttl},
                                                  {"iss", auth::jwt::herald_issuer}},
                                                 secret);
                    reply(rest::ok(200,
                                   {{"token", token},
                                    {"token_type", "Bearer"},
                                    {"expires_in", token_ttl},
                                    {"user_id", id}},
                                   "logged in"));
                  }
                  self->quit();
                },
                unavailable_in(self, reply));
          },
          unavailable_in(self, reply));
    });
  }

  void create(access::call&& c, http::reply_fn reply) {
    auto user = rest::read_body(c.req.body, reply, parse_new_user);
    if (!user) {
      return;
    }
    hash_then(sys, hashers, user->password, reply,
              [users = users, profile = user->profile, reply](caf::event_based_actor* self,
                                                             const std::string& hash) {
                self->request(users, service_timeout, create_atom::value, profile, hash)
                  .then(
                    [=](outcome& o, user_profile& p) {
                      reply(profile_answer(o, p, "user created"));
                      self->quit();
                    },
                    unavailable_in(self, reply));
              });
  }

  void list(access::call&& c, http::reply_fn reply) {
    std::string error;
    auto page = rest::parse_page(c.req.query, error);
    if (!page) {
      reply(rest::fail(400, error));
      return;
    }
    ask(sys, users, service_timeout,
        [reply, asked = *page](outcome& o, std::vector<user_profile>& found, std::int64_t total) {
          if (!o.ok()) {
            reply(rest::fail(o.status, o.error));
            return;
          }
          auto data = json::array();
          for (auto& p : found) {
            data.push_back(to_json(p));
          }
          reply(rest::ok(200, std::move(data), "users",
                         rest::page_meta(total, asked.page, asked.limit)));
        },
        unavailable(reply), list_atom::value, page->page, page->limit);
  }

  void read(access::call&& c, http::reply_fn reply) {
    ask(sys, users, service_timeout,
        [reply](outcome& o, user_profile& p) { reply(profile_answer(o, p, "user found")); },
        unavailable(reply), profile_atom::value, c.req.params["id"]);
  }

  /// The user id of the path, or "" after answering 404 when it cannot be one.
  static std::string user_id_of(access::call& c, const http::reply_fn& reply) {
    auto id = c.req.params["id"];
    if (!is_uuid(id)) {
      reply(rest::fail(404, "no user with id " + id));
      return {};
    }
    return id;
  }

  void change(access::call&& c, http::reply_fn reply) {
    auto id = user_id_of(c, reply);
    auto patch = id.empty() ? std::nullopt
                            : rest::read_body(c.req.body, reply, [&](auto& body, auto& error) {
                                return parse_user_patch(id, body, error);
                              });
    if (!patch) {
      return;
    }
    hash_then(sys, hashers, patch->password, reply,
              [users = users, change = patch->change, reply](caf::event_based_actor* self,
                                                            const std::string& hash) {
                auto hashed = change;
                if (!hash.empty()) {
                  hashed.password_hash = hash;
                }
                self->request(users, service_timeout, update_atom::value, hashed)
                  .then(
                    [=](outcome& o, user_profile& p) {
                      reply(profile_answer(o, p, "user updated"));
                      self->quit();
                    },
                    unavailable_in(self, reply));
              });
  }

  void remove(access::call&& c, http::reply_fn reply) {
    auto id = c.req.params["id"];
    ask(sys, users, service_timeout,
        [reply, id](outcome& o) {
          reply(o.ok() ? rest::ok(200, {{"id", id}, {"deleted", true}}, "user deleted")
                       : rest::fail(o.status, o.error));
        },
        unavailable(reply), delete_atom::value, id);
  }

  void set_preferences(access::call&& c, http::reply_fn reply) {
    auto id = user_id_of(c, reply);
    auto change = id.empty() ? std::nullopt
                             : rest::read_body(c.req.body, reply, [&](auto& body, auto& error) {
                                 return parse_preferences(id, body, error);
                               });
    if (!change) {
      return;
    }
    ask(sys, users, service_timeout,
        [reply](outcome& o, user_profile& p) {
          reply(o.ok() ? rest::ok(200, preferences_json(p), "preferences updated")
                       : rest::fail(o.status, o.error));
        },
        unavailable(reply), update_atom::value, *change);
  }

  void list_tokens(access::call&& c, http::reply_fn reply) {
    ask(sys, users, service_timeout,
        [reply](outcome& o, user_profile& p) {
          if (!o.ok()) {
            reply(rest::fail(o.status, o.error));
            return;
          }
          auto data = json::array();
          for (auto& t : p.user.push_tokens) {
            data.push_back(to_json(t));
          }
          auto total = static_cast<std::int64_t>(data.size());
          reply(rest::ok(200, std::move(data), "push tokens",
                         rest::page_meta(total, 1, std::max<std::int64_t>(total, 1))));
        },
        unavailable(reply), profile_atom::value, c.req.params["id"]);
  }

  void add_token(access::call&& c, http::reply_fn reply) {
    auto id = user_id_of(c, reply);
    auto read = [this](const json& body, std::string& error) {
      return parse_push_token(body, endpoints, error);
    };
    auto token = id.empty() ? std::nullopt : rest::read_body(c.req.body, reply, read);
    if (!token) {
      return;
    }
    ask(sys, users, service_timeout,
        [reply](outcome& o, push_token& t) {
          reply(o.ok() ? rest::ok(o.status, to_json(t),
                                  o.status == 201 ? "push token registered"
                                                  : "push token already registered")
                       : rest::fail(o.status, o.error));
        },
        unavailable(reply), add_token_atom::value, id, *token);
  }

  /// The answer to a removed push token.
  static auto removed(http::reply_fn reply) {
    return [reply](outcome& o, push_token& t) {
      if (!o.ok()) {
        reply(rest::fail(o.status, o.error));
        return;
      }
      auto data = to_json(t);
      data["deleted"] = true;
      reply(rest::ok(200, std::move(data), "push token deleted"));
    };
  }

  void remove_token_by_id(access::call&& c, http::reply_fn reply) {
    ask(sys, users, service_timeout, removed(reply), unavailable(reply),
        remove_token_atom::value, c.req.params["id"], c.req.params["token_id"], std::string{},
        std::string{});
  }

  void remove_token_by_value(access::call&& c, http::reply_fn reply) {
    auto which = rest::read_body(c.req.body, reply, parse_token_selector);
    if (!which) {
      return;
    }
    ask(sys, users, service_timeout, removed(reply), unavailable(reply),
        remove_token_atom::value, c.req.params["id"], std::string{}, which->first,
        which->second);
  }

  caf::actor_system& sys;
  runtime::registry& registry;
  caf::actor users;
  caf::actor hashers;
  std::string secret;
  std::int64_t token_ttl; ///< seconds
  // Every login attempt costs a slow hash: a burst from one client, or against one
  // account, is refused before it reaches the hasher (runtime/auth/attempt_limiter.hpp).
  runtime::attempt_limiter per_client;
  runtime::attempt_limiter per_address;
  net::outbound_policy endpoints; ///< what a Web Push endpoint may be
};

} // namespace

void add_user_routes(http::server& server, node_context& ctx,
                     std::shared_ptr<const access::gate> gate, caf::actor users,
                     caf::actor hashers) {
  access::mount(server, std::move(gate),
                std::make_shared<users_api>(ctx, std::move(users), std::move(hashers)),
                users_api::routes());
}

std::vector<access::route_row> user_route_rules() {
  return access::rows("users", users_api::routes());
}

} // namespace herald
