#pragma once

// JSON Web Tokens (RFC 7519) signed with HMAC-SHA256 (JWS compact form, RFC 7515):
// issued by the users service at login, checked by the gateway on every request.
//
// `verify` accepts a token only when all of these hold, and otherwise says which failed:
// three base64url parts without padding; a JSON object header whose `alg` is exactly
// "HS256" ("none" and every other algorithm are refused, so a token cannot choose a weaker
// check) and without `crit`; a signature equal to HMAC-SHA256(secret, header.payload),
// compared in constant time; a JSON object payload with a numeric `exp` in the future and,
// if present, a numeric `nbf` not in the future; and what the caller expects (`expect`):
// the issuer, and an `exp` at most the longest lifetime ahead (a token forged or leaked
// with `exp` 10^30 would otherwise never expire).
//
// Pure functions, safe on any thread; HMAC is cheap, so no actor is needed.

#include <nlohmann/json.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace herald::auth::jwt {

/// Tokens longer than this are refused unread.
inline constexpr std::size_t max_token_length = 8192;

/// A token with header {"alg":"HS256","typ":"JWT"} and `claims` as payload. Throws
/// std::invalid_argument when `secret` is empty or `claims` is not a JSON object.
std::string sign(const nlohmann::json& claims, std::string_view secret);

/// The claims of a valid token, or why the token was refused.
struct verify_result {
  std::optional<nlohmann::json> claims; ///< set when valid
  std::string error;                    ///< set when refused: names the reason
  bool ok() const { return claims.has_value(); }
};

/// The issuer of Herald's login tokens (the users service), checked by the gateway.
inline constexpr const char* herald_issuer = "herald";

/// What a verifier expects beyond a valid signature and time window.
struct expectations {
  std::string issuer;                        ///< `iss` must equal it ("" : not checked)
  std::chrono::seconds max_lifetime{0};      ///< `exp` at most this far ahead (0 : any)
};

/// Checks `token` against `secret` at time `now` (see the header comment). `leeway`
/// tolerates clock skew on `exp` and `nbf`. An empty secret refuses every token.
verify_result verify(std::string_view token, std::string_view secret,
                     std::chrono::system_clock::time_point now,
                     std::chrono::seconds leeway = std::chrono::seconds{0},
                     const expectations& expect = {});

} // namespace herald::auth::jwt
