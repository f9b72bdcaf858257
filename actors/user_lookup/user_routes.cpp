// The users REST API (port base + 1): HTTP in, messages to the store workers and the
// password hashers out. Handlers never block: each answer comes from a continuation.

#include <algorithm>
#include <cctype>
#include <chrono>
#include <memory>

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

json page_meta(std::int64_t total, std::int64_t page, std::int64_t limit) {
  auto pages = (total + limit - 1) / limit;
  return {{"total", total},
          {"limit", limit},
          {"page", page},
          {"total_pages", pages},
          {"has_next", page < pages},
          {"has_previous", page > 1}};
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

} // namespace

void add_user_routes(http::server& server, node_context& ctx, caf::actor users,
                     caf::actor hashers) {
  auto& sys = ctx.system;
  auto& registry = ctx.registry;
  auto secret = ctx.settings.get("jwt.secret");
  auto token_ttl = std::chrono::seconds{ctx.settings.get_int("jwt.ttl_s")};
  // Every login attempt costs a slow hash: a burst from one client, or against one
  // account, is refused before it reaches the hasher (runtime/auth/attempt_limiter.hpp).
  struct login_limits {
    login_limits(std::size_t client, std::size_t address) : per_client(client), per_address(address) {}
    runtime::attempt_limiter per_client;
    runtime::attempt_limiter per_address;
  };
  auto limits = std::make_shared<login_limits>(
    static_cast<std::size_t>(ctx.settings.get_int("users.login_attempts_per_client")),
    static_cast<std::size_t>(ctx.settings.get_int("users.login_attempts_per_address")));
  auto unavailable = [](const http::reply_fn& reply) {
    return rest::unavailable(reply, "users service");
  };
  net::outbound_policy endpoints{ctx.settings.get_bool("push.allow_insecure_endpoints")};

  // -- fixed paths first: they would otherwise match /api/v1/users/{id} ---------------

  server.route("GET", "/api/v1/users/stats", [&registry](http::request&&, http::reply_fn reply) {
    reply(rest::ok(200,
                   {{"user_lookup", pool_stats(registry, "user_lookup")},
                    {"password_hasher", pool_stats(registry, "password_hasher")}},
                   "users service counters"));
  });

  server.route("POST", "/api/v1/users/login", [&sys, users, hashers, secret, token_ttl, limits](
                                                 http::request&& req, http::reply_fn reply) {
    auto body = rest::parse_object(req.body, reply);
    if (!body) {
      return;
    }
    std::string error;
    auto login = parse_login(*body, error);
    if (!login) {
      reply(rest::fail(400, error));
      return;
    }
    if (secret.empty()) {
      reply(rest::fail(503, "jwt.secret is not configured (HERALD_JWT_SECRET): login is disabled"));
      return;
    }
    auto address = login->email;
    std::transform(address.begin(), address.end(), address.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    std::string limited;
    auto wait = limits->per_client.admit(req.client);
    if (wait.count() > 0) {
      limited = "too many login attempts from this client";
    } else if (wait = limits->per_address.admit(address); wait.count() > 0) {
      limited = "too many login attempts for this email address";
    }
    if (!limited.empty()) {
      auto r = rest::fail(429, limited + "; try again in " + std::to_string(wait.count()) + " s");
      r.headers.emplace_back("Retry-After", std::to_string(wait.count()));
      reply(r);
      return;
    }
    run_in_actor(sys, [=](caf::event_based_actor* self) {
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
                                                  {"exp", now + token_ttl.count()},
                                                  {"iss", auth::jwt::herald_issuer}},
                                                 secret);
                    reply(rest::ok(200,
                                   {{"token", token},
                                    {"token_type", "Bearer"},
                                    {"expires_in", token_ttl.count()},
                                    {"user_id", id}},
                                   "logged in"));
                  }
                  self->quit();
                },
                unavailable_in(self, reply));
          },
          unavailable_in(self, reply));
    });
  });

  // -- the collection ---------------------------------------------------------------------

  server.route("POST", "/api/v1/users", [&sys, users, hashers](http::request&& req,
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
    auto profile = user->profile;
    hash_then(sys, hashers, user->password, reply,
              [=](caf::event_based_actor* self, const std::string& hash) {
                self->request(users, service_timeout, create_atom::value, profile, hash)
                  .then(
                    [=](outcome& o, user_profile& p) {
                      reply(profile_answer(o, p, "user created"));
                      self->quit();
                    },
                    unavailable_in(self, reply));
              });
  });

  server.route("GET", "/api/v1/users", [&sys, users, unavailable](http::request&& req,
                                                                  http::reply_fn reply) {
    std::string error;
    auto page = parse_page(req.query, error);
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
                         page_meta(total, asked.page, asked.limit)));
        },
        unavailable(reply), list_atom::value, page->page, page->limit);
  });

  // -- one user ---------------------------------------------------------------------------

  server.route("GET", "/api/v1/users/{id}", [&sys, users, unavailable](http::request&& req,
                                                                       http::reply_fn reply) {
    ask(sys, users, service_timeout,
        [reply](outcome& o, user_profile& p) { reply(profile_answer(o, p, "user found")); },
        unavailable(reply), profile_atom::value, req.params["id"]);
  });

  server.route("PATCH", "/api/v1/users/{id}", [&sys, users, hashers](http::request&& req,
                                                                     http::reply_fn reply) {
    auto id = req.params["id"];
    if (!is_uuid(id)) {
      reply(rest::fail(404, "no user with id " + id));
      return;
    }
    auto body = rest::parse_object(req.body, reply);
    if (!body) {
      return;
    }
    std::string error;
    auto patch = parse_user_patch(id, *body, error);
    if (!patch) {
      reply(rest::fail(400, error));
      return;
    }
    auto change = patch->change;
    hash_then(sys, hashers, patch->password, reply,
              [=](caf::event_based_actor* self, const std::string& hash) {
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
  });

  server.route("DELETE", "/api/v1/users/{id}", [&sys, users, unavailable](http::request&& req,
                                                                          http::reply_fn reply) {
    auto id = req.params["id"];
    ask(sys, users, service_timeout,
        [reply, id](outcome& o) {
          reply(o.ok() ? rest::ok(200, {{"id", id}, {"deleted", true}}, "user deleted")
                       : rest::fail(o.status, o.error));
        },
        unavailable(reply), delete_atom::value, id);
  });

  server.route("PUT", "/api/v1/users/{id}/preferences", [&sys, users, unavailable](
                                                          http::request&& req,
                                                          http::reply_fn reply) {
    auto id = req.params["id"];
    if (!is_uuid(id)) {
      reply(rest::fail(404, "no user with id " + id));
      return;
    }
    auto body = rest::parse_object(req.body, reply);
    if (!body) {
      return;
    }
    std::string error;
    auto change = parse_preferences(id, *body, error);
    if (!change) {
      reply(rest::fail(400, error));
      return;
    }
    ask(sys, users, service_timeout,
        [reply](outcome& o, user_profile& p) {
          reply(o.ok() ? rest::ok(200, preferences_json(p), "preferences updated")
                       : rest::fail(o.status, o.error));
        },
        unavailable(reply), update_atom::value, *change);
  });

  // -- push tokens ------------------------------------------------------------------------

  server.route("GET", "/api/v1/users/{id}/push_tokens", [&sys, users, unavailable](
                                                          http::request&& req,
                                                          http::reply_fn reply) {
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
                         page_meta(total, 1, std::max<std::int64_t>(total, 1))));
        },
        unavailable(reply), profile_atom::value, req.params["id"]);
  });

  server.route("POST", "/api/v1/users/{id}/push_tokens", [&sys, users, unavailable, endpoints](
                                                           http::request&& req,
                                                           http::reply_fn reply) {
    auto id = req.params["id"];
    if (!is_uuid(id)) {
      reply(rest::fail(404, "no user with id " + id));
      return;
    }
    auto body = rest::parse_object(req.body, reply);
    if (!body) {
      return;
    }
    std::string error;
    auto token = parse_push_token(*body, endpoints, error);
    if (!token) {
      reply(rest::fail(400, error));
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
  });

  auto removed = [](http::reply_fn reply) {
    return [reply](outcome& o, push_token& t) {
      if (!o.ok()) {
        reply(rest::fail(o.status, o.error));
        return;
      }
      auto data = to_json(t);
      data["deleted"] = true;
      reply(rest::ok(200, std::move(data), "push token deleted"));
    };
  };

  server.route("DELETE", "/api/v1/users/{id}/push_tokens/{token_id}",
               [&sys, users, unavailable, removed](http::request&& req, http::reply_fn reply) {
                 ask(sys, users, service_timeout, removed(reply), unavailable(reply),
                     remove_token_atom::value, req.params["id"], req.params["token_id"],
                     std::string{}, std::string{});
               });

  server.route("DELETE", "/api/v1/users/{id}/push_tokens",
               [&sys, users, unavailable, removed](http::request&& req, http::reply_fn reply) {
                 auto body = rest::parse_object(req.body, reply);
                 if (!body) {
                   return;
                 }
                 std::string error;
                 auto which = parse_token_selector(*body, error);
                 if (!which) {
                   reply(rest::fail(400, error));
                   return;
                 }
                 ask(sys, users, service_timeout, removed(reply), unavailable(reply),
                     remove_token_atom::value, req.params["id"], std::string{}, which->first,
                     which->second);
               });
}

} // namespace herald
