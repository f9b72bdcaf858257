#pragma once

// Password hashing: PBKDF2-HMAC-SHA256 (OpenSSL) with a 16-byte random salt, stored in a
// self-describing text form
//
//     pbkdf2-sha256$<iterations>$<salt>$<hash>      (salt and hash: base64, unpadded)
//
// so the work factor can be raised later without invalidating stored hashes: each hash
// carries its own iteration count. Verification compares in constant time.
//
// Hashing is deliberately slow (600 000 iterations by default, OWASP's figure for
// PBKDF2-HMAC-SHA256): call these only from a detached actor, never from a scheduler or
// HTTP thread. Pure functions, safe on any thread.

#include <optional>
#include <string>
#include <string_view>

namespace herald::auth {

/// OWASP's recommendation for PBKDF2-HMAC-SHA256 (2023).
inline constexpr int default_password_iterations = 600000;

/// Largest iteration count `verify_password` accepts from a stored hash, so a corrupt or
/// planted record cannot make one verification run for minutes.
inline constexpr int max_password_iterations = 10000000;

/// Hashes `password` with a fresh random salt. Throws std::invalid_argument for
/// iterations outside 1..max_password_iterations and std::runtime_error when the system's
/// random generator fails.
std::string hash_password(std::string_view password, int iterations);

/// The same with a given salt (for known-answer tests; production code wants a random
/// one). Throws std::invalid_argument for an empty salt or bad iterations.
std::string hash_password(std::string_view password, int iterations, std::string_view salt);

/// True when `encoded` is a well-formed hash of `password`. A malformed `encoded` is
/// simply false. Runs in time independent of where the hashes differ.
bool verify_password(std::string_view password, std::string_view encoded);

/// The iteration count of a well-formed encoded hash, else nullopt.
std::optional<int> password_hash_iterations(std::string_view encoded);

} // namespace herald::auth
