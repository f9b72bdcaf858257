#pragma once

// The cryptographic primitives Web Push is made of, on OpenSSL 3's EVP interfaces: P-256
// keys from and to their raw forms (the 65-byte uncompressed point, the 32-byte scalar),
// ECDH, HKDF-SHA256, AES-128-GCM and ES256 signatures in JOSE form (r || s, 64 bytes).
// They know nothing of the protocols: webpush.hpp builds RFC 8291 and RFC 8292 from them,
// and the test suite's fake push service builds the receiving side from them.
//
// Byte strings are std::string. Functions that take outside input (points, scalars,
// signatures, ciphertexts) return an empty value when it is invalid; a failure of OpenSSL
// itself on valid input (out of memory) throws std::runtime_error. A key is immutable
// once made and may be used from several threads at once.

#include <openssl/types.h>

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace herald::webpush::crypto {

/// A P-256 key: a public point, or a private scalar with its public point. Null: none.
using p256_key = std::shared_ptr<EVP_PKEY>;

inline constexpr std::size_t point_size = 65;  ///< 0x04 || x || y
inline constexpr std::size_t scalar_size = 32; ///< big-endian, 1 .. n-1

/// The public key for `point`, or null when it is not an uncompressed point on P-256.
p256_key public_key(std::string_view point);

/// The key pair for the private scalar `scalar` (its public point computed from it), or
/// null when it is not 32 bytes in 1 .. n-1.
p256_key private_key(std::string_view scalar);

/// A fresh key pair from OpenSSL's random generator.
p256_key generate_key();

/// The key's uncompressed public point (65 bytes).
std::string public_point(const p256_key& key);

/// The key's private scalar (32 bytes, zero-padded); "" for a public key.
std::string private_scalar(const p256_key& key);

/// The ECDH shared secret (the x coordinate, 32 bytes) of `own` (a key pair) and `peer`.
std::string ecdh(const p256_key& own, const p256_key& peer);

/// HKDF (RFC 5869) with SHA-256: Extract(salt, ikm), then Expand(info) to `length` bytes.
std::string hkdf_sha256(std::string_view salt, std::string_view ikm, std::string_view info,
                        std::size_t length);

inline constexpr std::size_t gcm_tag_size = 16;

/// AES-128-GCM with a 16-byte key and a 12-byte nonce, no associated data: the ciphertext
/// followed by the 16-byte tag.
std::string aes128gcm_seal(std::string_view key, std::string_view nonce,
                           std::string_view plaintext);

/// The plaintext of `sealed` (ciphertext || tag), or nullopt when the tag does not check.
std::optional<std::string> aes128gcm_open(std::string_view key, std::string_view nonce,
                                          std::string_view sealed);

/// ECDSA P-256 with SHA-256 over `data` (JWS "ES256"): r || s, 32 bytes each.
std::string es256_sign(const p256_key& key, std::string_view data);

/// Whether `signature` (r || s, 64 bytes) is `key`'s ES256 signature of `data`.
bool es256_verify(const p256_key& key, std::string_view data, std::string_view signature);

/// `n` bytes from OpenSSL's random generator.
std::string random_bytes(std::size_t n);

} // namespace herald::webpush::crypto
