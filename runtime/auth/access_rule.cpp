#include "runtime/auth/access_rule.hpp"

namespace herald::auth {

rule open() {
  return {rule::kind::open, {}, {}};
}

rule admin() {
  return {rule::kind::admin, {}, {}};
}

rule key(scope needs) {
  return {rule::kind::key, needs, {}};
}

rule key_or_self(scope needs, std::string param) {
  return {rule::kind::key_or_self, needs, std::move(param)};
}

rule key_or_user(scope needs) {
  return {rule::kind::key_or_user, needs, {}};
}

rule registration(scope needs) {
  return {rule::kind::registration, needs, {}};
}

std::string describe(const rule& r) {
  auto scope = "key `" + std::string{scope_name(r.needs)} + "`";
  switch (r.what) {
    case rule::kind::open: return "none";
    case rule::kind::admin: return "admin token";
    case rule::kind::key: return scope;
    case rule::kind::key_or_self: return scope + ", or that user's login token";
    case rule::kind::key_or_user: return scope + ", or a login token (its own user only)";
    case rule::kind::registration: return scope + " (none with `users.open_registration`)";
  }
  return {};
}

std::string forbidden(const principal& who, const rule& r,
                      const std::map<std::string, std::string>& params) {
  using kind = principal::kind;
  if (r.what == rule::kind::open || who.what == kind::admin) {
    return {};
  }
  if (r.what == rule::kind::admin) {
    return "this route needs the admin token";
  }
  if (who.what == kind::anonymous) {
    return {};
  }
  auto needs = std::string{scope_name(r.needs)};
  if (who.what == kind::api_key) {
    return has(who.scopes, r.needs) ? std::string{}
                                    : "this API key lacks the scope '" + needs + "'";
  }
  if (r.what == rule::kind::key_or_user) {
    return {};
  }
  if (r.what == rule::kind::key_or_self) {
    auto i = params.find(r.param);
    if (i != params.end() && i->second == who.id) {
      return {};
    }
    return "a login token reaches only its own user";
  }
  return "a login token cannot use this route: it needs an API key with the scope '" + needs
         + "'";
}

} // namespace herald::auth
