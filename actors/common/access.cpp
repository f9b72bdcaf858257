#include "actors/common/access.hpp"

#include <chrono>

#include "actors/common/rest.hpp"

namespace herald::access {

namespace {

/// A 401 in the envelope with the challenge RFC 6750 asks for.
http::response unauthorized(const std::string& why, bool invalid_token) {
  auto r = rest::fail(401, why);
  r.headers.emplace_back("WWW-Authenticate", invalid_token
                                               ? "Bearer realm=\"herald\", error=\"invalid_token\""
                                               : "Bearer realm=\"herald\"");
  return r;
}

} // namespace

std::string markdown(const std::vector<route_row>& rows) {
  std::string out = "| service | route | credential |\n|---|---|---|\n";
  for (auto& r : rows) {
    out += "| " + r.service + " | `" + r.method + " " + r.pattern + "` | " + auth::describe(r.rule)
           + " |\n";
  }
  return out;
}

gate::gate(const config::settings& s, std::shared_ptr<const auth::key_set> keys)
  : authenticator_(s.get("auth.admin_token"), s.get("jwt.secret"),
                   {auth::jwt::herald_issuer, std::chrono::seconds{s.get_int("jwt.ttl_s")}},
                   std::move(keys)),
    required_(s.get_bool("auth.required")),
    open_registration_(s.get_bool("users.open_registration")) {}

std::optional<auth::principal> gate::admit(const http::request& req, const auth::rule& r,
                                           const http::reply_fn& reply) const {
  using kind = auth::rule::kind;
  if (r.what == kind::open || (r.what == kind::registration && open_registration_)) {
    return auth::principal{};
  }
  if (r.what == kind::admin && !authenticator_.has_admin_token()) {
    reply(rest::fail(403, "API keys are managed with the admin token, and none is configured: "
                          "set auth.admin_token (HERALD_ADMIN_TOKEN)"));
    return std::nullopt;
  }
  auto id = authenticator_.identify(req.header("Authorization"), req.header("X-API-Key"),
                                    std::chrono::system_clock::now());
  using state = auth::identification::state;
  switch (id.result) {
    case state::invalid:
      reply(unauthorized(id.error, true));
      return std::nullopt;
    case state::unavailable:
      reply(rest::fail(503, id.error));
      return std::nullopt;
    case state::none:
      if (required_ || r.what == kind::admin) {
        reply(unauthorized("missing credential: send Authorization: Bearer <API key or login "
                           "token>, or X-API-Key: <API key>",
                           false));
        return std::nullopt;
      }
      break;
    case state::valid:
      break;
  }
  if (auto why = auth::forbidden(id.who, r, req.params); !why.empty()) {
    reply(rest::fail(403, why));
    return std::nullopt;
  }
  return std::move(id.who);
}

} // namespace herald::access
