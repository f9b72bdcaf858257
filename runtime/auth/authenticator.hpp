#pragma once

// Who is calling: turns a request's credential headers into a principal.
//
//   Authorization: Bearer <credential>   the admin token, an API key, or a login JWT
//   X-API-Key: <credential>              the admin token or an API key
//
// The admin token (auth.admin_token) is compared in constant time, digest against digest,
// so neither its content nor its length leaks. A credential starting with "hk_" is an API
// key, looked up by its SHA-256 in the node's key_set (no I/O). Anything else in a Bearer
// header is a login token, verified as jwt.hpp says (HS256 with jwt.secret, Herald's
// issuer, a bounded lifetime); its `sub` is the user. Both headers at once must name the
// same credential.
//
// Pure apart from reading the key_set; safe on any thread; microseconds per call.

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "runtime/auth/api_key.hpp"
#include "runtime/auth/jwt.hpp"
#include "runtime/auth/key_set.hpp"

namespace herald::auth {

/// The caller of a request, once its credential is checked.
struct principal {
  enum class kind {
    anonymous, ///< no credential, and auth.required is false
    admin,     ///< the admin token
    api_key,   ///< a service API key: `scopes`
    user,      ///< a user's login token: `id` is the user
  };
  kind what = kind::anonymous;
  std::string id;   ///< the user (user) or the key (api_key)
  std::string name; ///< the key's name (api_key)
  scope_set scopes = 0;

  /// A login token: it may reach only its own user's resources.
  bool is_user() const { return what == kind::user; }
};

/// The outcome of reading a request's credential.
struct identification {
  enum class state {
    none,        ///< no credential given
    valid,       ///< `who` is the caller
    invalid,     ///< refused (401): `error` names why
    unavailable, ///< cannot be checked now (503): `error` names why
  };
  state result = state::none;
  principal who;
  std::string error;
};

class authenticator {
public:
  /// `admin_token` "" : no admin token. `jwt_secret` "" : login tokens cannot be checked.
  authenticator(std::string_view admin_token, std::string jwt_secret,
                jwt::expectations jwt_expect, std::shared_ptr<const key_set> keys);

  /// `authorization` and `api_key` are the headers' values ("" when absent).
  identification identify(std::string_view authorization, std::string_view api_key,
                          std::chrono::system_clock::time_point now) const;

  bool has_admin_token() const { return !admin_digest_.empty(); }

private:
  identification credential(std::string_view token, bool bearer,
                            std::chrono::system_clock::time_point now) const;

  std::string admin_digest_; ///< sha256 of the admin token; "" when there is none
  std::string jwt_secret_;
  jwt::expectations jwt_expect_;
  std::shared_ptr<const key_set> keys_;
};

} // namespace herald::auth
