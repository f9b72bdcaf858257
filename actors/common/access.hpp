#pragma once

// Who may call which route, declared where the routes are registered: each service keeps
// one table of (method, pattern, rule, handler) and mounts it on its http::server through
// the node's gate. Before a handler runs, the gate identifies the caller
// (runtime/auth/authenticator.hpp) and applies the route's rule
// (runtime/auth/access_rule.hpp); the handler gets the request and the caller. Refusals
// are answered in the envelope:
//   401 no credential (when auth.required, or on an admin route), or an invalid one;
//       with WWW-Authenticate
//   403 a valid credential the rule does not admit (a key without the scope, another
//       user's login token, anything but the admin token on an admin route), and every
//       admin route while auth.admin_token is not set
//   503 an API key while the node has not loaded the keys yet
// The tables are data: `rows` lists them for the README's route table (a unit test keeps
// the two in step).

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "adapters/http/server.hpp"
#include "runtime/auth/access_rule.hpp"
#include "runtime/auth/authenticator.hpp"
#include "runtime/config/settings.hpp"

namespace herald::access {

/// A request that passed its route's rule, and who sent it.
struct call {
  http::request req;
  auth::principal who;
};

/// One route: what it answers, who may call it, and the member of the service's API
/// object that handles it.
template <class Api>
struct route {
  const char* method;
  const char* pattern;
  auth::rule rule;
  void (Api::*handler)(call&&, http::reply_fn);
};

/// A route without its handler: what the README lists, and tests walk through.
struct route_row {
  std::string service;
  std::string method;
  std::string pattern;
  auth::rule rule;
};

template <class Api>
std::vector<route_row> rows(const std::string& service, const std::vector<route<Api>>& table) {
  std::vector<route_row> out;
  for (auto& r : table) {
    out.push_back({service, r.method, r.pattern, r.rule});
  }
  return out;
}

/// The README's route table: | service | route | credential |.
std::string markdown(const std::vector<route_row>& rows);

/// The node's gatekeeper, shared by every service port.
class gate {
public:
  gate(const config::settings& s, std::shared_ptr<const auth::key_set> keys);

  /// The caller when `req` passes `r`; otherwise answers `reply` (401, 403, 503) and
  /// returns nothing.
  std::optional<auth::principal> admit(const http::request& req, const auth::rule& r,
                                       const http::reply_fn& reply) const;

private:
  auth::authenticator authenticator_;
  bool required_;
  bool open_registration_;
};

/// Registers every route of `table` on `server`, each behind `g`.
template <class Api>
void mount(http::server& server, std::shared_ptr<const gate> g, std::shared_ptr<Api> api,
           const std::vector<route<Api>>& table) {
  for (auto& r : table) {
    server.route(r.method, r.pattern,
                 [g, api, rule = r.rule, handler = r.handler](http::request&& req,
                                                               http::reply_fn reply) {
                   auto who = g->admit(req, rule, reply);
                   if (who) {
                     ((*api).*handler)(call{std::move(req), std::move(*who)}, std::move(reply));
                   }
                 });
  }
}

} // namespace herald::access
