#pragma once

// Service API keys: what they look like, how they are stored, what they may do.
//
// A key is "hk_" + 43 base64url characters: 32 bytes from OpenSSL's CSPRNG (256 bits, so
// guessing one is hopeless and a fast hash is the right way to store it: nothing to
// brute-force). Herald stores only its SHA-256 digest and a short prefix for display
// ("hk_" + 8 characters, 48 of the 256 bits), and shows the key itself once, when it is
// created. Checking a presented key is one SHA-256 and one map lookup.
//
// Scopes say what a key may do; a route names the scope it needs (actors/common/access).
//
// Pure functions, safe on any thread.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace herald::auth {

/// What an API key may do, one bit each.
enum class scope : std::uint32_t {
  notifications_write = 1u << 0, ///< send to any user
  notifications_read = 1u << 1,  ///< read any notification's status
  users_read = 1u << 2,          ///< read and list users
  users_write = 1u << 3,         ///< create, change and delete users, their devices
  templates_read = 1u << 4,      ///< read templates, their versions, previews
  templates_write = 1u << 5,     ///< create templates and their versions
  introspection_read = 1u << 6,  ///< actors, counters (/api/v1/introspection, users/stats)
};

/// A set of scopes (bits of `scope`).
using scope_set = std::uint32_t;

inline scope_set operator|(scope_set set, scope s) {
  return set | static_cast<scope_set>(s);
}
inline bool has(scope_set set, scope s) {
  return (set & static_cast<scope_set>(s)) != 0;
}

/// Every scope with its name ("notifications:write") and what it grants, in this order.
struct scope_info {
  scope value;
  std::string_view name;
  std::string_view grants;
};
const std::vector<scope_info>& known_scopes();

std::string_view scope_name(scope s);
std::optional<scope> scope_named(std::string_view name);
/// The names of the scopes in `set`, in known_scopes() order.
std::vector<std::string> scope_names(scope_set set);

/// Keys start with this, so a bearer credential is told from a login token at a glance.
inline constexpr std::string_view api_key_marker = "hk_";

/// A fresh key and what is stored of it.
struct new_api_key {
  std::string key;    ///< shown once, never stored
  std::string prefix; ///< "hk_" + its next 8 characters, for display
  std::string digest; ///< sha256(key), 32 bytes
};

/// A new random key. Throws std::runtime_error when the system's random generator fails.
new_api_key generate_api_key();

/// SHA-256 of `text`: 32 raw bytes.
std::string sha256(std::string_view text);

/// Lower-case hexadecimal of raw bytes (how digests are stored in user_db).
std::string to_hex(std::string_view bytes);
/// The bytes of a hexadecimal string; nullopt when it is not one.
std::optional<std::string> from_hex(std::string_view hex);

/// True when `a` and `b` are equal, in time that depends only on their lengths.
bool equal_in_constant_time(std::string_view a, std::string_view b);

} // namespace herald::auth
