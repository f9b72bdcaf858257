#pragma once

// Base64 (RFC 4648 §4) and base64url (§5) codecs. Encoders never pad; decoders are
// strict: they refuse characters outside the alphabet, impossible lengths and non-zero
// trailing bits, so every byte string has exactly one accepted spelling.

#include <optional>
#include <string>
#include <string_view>

namespace herald::auth {

/// Standard alphabet (A-Z a-z 0-9 + /), without padding.
std::string base64_encode(std::string_view bytes);

/// Standard alphabet; trailing '=' padding is accepted but not required.
std::optional<std::string> base64_decode(std::string_view text);

/// URL-safe alphabet (A-Z a-z 0-9 - _), without padding, as JWT and Web Push use it.
std::string base64url_encode(std::string_view bytes);

/// URL-safe alphabet; padding is refused (JWT forbids it; Web Push keys come without).
std::optional<std::string> base64url_decode(std::string_view text);

} // namespace herald::auth
