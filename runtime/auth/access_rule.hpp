#pragma once

// May this caller use this route? Each route declares one rule where it is registered
// (actors/common/access.hpp); `authorize` decides for an identified caller.
//
//   open            no credential needed (health, login); a given one is not read
//   admin           only the admin token
//   key(S)          an API key with scope S
//   key_or_self(S, p)  an API key with S, or the login token of the user named by the path
//                   parameter p
//   key_or_user(S)  an API key with S, or any login token: the handler keeps a user to its
//                   own resources (its own notifications)
//   registration(S) as key(S), or open when users.open_registration is on
//
// The admin token passes every rule: it is the root credential. A caller without a
// credential (anonymous: only when auth.required is false) passes every rule but admin.
//
// Pure functions, safe on any thread.

#include <map>
#include <string>

#include "runtime/auth/api_key.hpp"
#include "runtime/auth/authenticator.hpp"

namespace herald::auth {

struct rule {
  enum class kind { open, admin, key, key_or_self, key_or_user, registration };
  kind what = kind::open;
  scope needs = scope::notifications_write; ///< for every kind but open and admin
  std::string param;                        ///< key_or_self: the path parameter
};

rule open();
rule admin();
rule key(scope needs);
rule key_or_self(scope needs, std::string param);
rule key_or_user(scope needs);
rule registration(scope needs);

/// The rule as the README's route table states it, e.g. "`users:read` or own login token".
std::string describe(const rule& r);

/// Whether `who` may pass `r`: "" when it may, else why not (answered 403).
/// `params` are the route's path parameters. (An open registration is the caller's to
/// treat as `open`.)
std::string forbidden(const principal& who, const rule& r,
                      const std::map<std::string, std::string>& params);

} // namespace herald::auth
