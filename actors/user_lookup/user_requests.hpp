#pragma once

// Validation of the users REST API's request bodies and query parameters. Every parser
// refuses unknown fields and returns nullopt with `error` naming the field and what was
// wrong with it (the route answers 400 with it). Pure functions, no I/O.
//
// Limits: email 254 characters and name@domain.tld-shaped, taken in Unicode NFC (so an
// address typed precomposed and one typed with combining marks are one address, for
// uniqueness and login alike); name 1-200; password 8-1024
// (at least 8 characters, at most 1024 bytes); language a BCP-47-like tag
// ([a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})*, at most 16); quiet hours HH:MM to HH:MM (different)
// in a time zone name of 1-64 characters [A-Za-z0-9/_+-] (not checked against the time
// zone database yet); FCM tokens 32-4096 characters of [A-Za-z0-9_:-]; Web Push
// subscriptions an endpoint Herald may send to (adapters/net/outbound.hpp: https, a public
// host; at most 2048 characters; the name is not resolved here, see README), a p256dh key
// that is an uncompressed P-256 point (65 bytes, first 0x04) and a 16-byte auth secret,
// both base64url.

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "actors/user_lookup/user_lookup.hpp"
#include "adapters/net/outbound.hpp"

namespace herald {

/// POST /api/v1/users: {email, name, password?, language?, preferences?: {email?, push?,
/// language?, quiet_hours?}}. The profile gets a fresh id; `password` is "" when none.
struct new_user {
  user_profile profile;
  std::string password;
};
std::optional<new_user> parse_new_user(const nlohmann::json& body, std::string& error);

/// PATCH /api/v1/users/{id}: any of email, name, password, language, preferences (at least
/// one; null is refused). `password` is "" when unchanged; the change's hash is set later.
struct user_patch {
  user_change change;
  std::string password;
};
std::optional<user_patch> parse_user_patch(const std::string& id, const nlohmann::json& body,
                                           std::string& error);

/// PUT /api/v1/users/{id}/preferences: any of email, push, language, quiet_hours (at least
/// one; the others keep their values; "quiet_hours": null removes them).
std::optional<user_change> parse_preferences(const std::string& id, const nlohmann::json& body,
                                             std::string& error);

/// POST /api/v1/users/{id}/push_tokens: {"type": "fcm", "token"} or
/// {"type": "webpush", "subscription": {"endpoint", "keys": {"p256dh", "auth"}}}
/// (a browser's PushSubscription.toJSON(): expirationTime, null or a number, is accepted and
/// not kept; another value is a 400).
/// The token has no id yet; Web Push keys come back re-encoded without padding. The
/// endpoint must pass `endpoints` (push.allow_insecure_endpoints).
std::optional<push_token> parse_push_token(const nlohmann::json& body,
                                           const net::outbound_policy& endpoints,
                                           std::string& error);

/// DELETE /api/v1/users/{id}/push_tokens: {"token": "<fcm token>"} or
/// {"endpoint": "<web push endpoint>"}; returns {kind, value}.
std::optional<std::pair<std::string, std::string>>
parse_token_selector(const nlohmann::json& body, std::string& error);

/// POST /api/v1/users/login: {email, password}.
struct login_request {
  std::string email;
  std::string password;
};
std::optional<login_request> parse_login(const nlohmann::json& body, std::string& error);

// -- single values (exposed for tests) ---------------------------------------------------

/// `s` in Unicode NFC; nullopt when it is not valid UTF-8.
std::optional<std::string> to_nfc(std::string_view s);
bool is_language_tag(std::string_view s);
bool is_clock_time(std::string_view s); ///< HH:MM, 00:00 to 23:59
bool is_fcm_token(std::string_view s);
/// "" when `password` is acceptable, else why not.
std::string check_password(std::string_view password);

} // namespace herald
