#include "runtime/auth/base64.hpp"

#include <array>
#include <cstdint>

namespace herald::auth {

namespace {

constexpr std::string_view standard =
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::string_view url_safe =
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string encode(std::string_view bytes, std::string_view alphabet) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    std::uint32_t v = static_cast<std::uint8_t>(bytes[i]) << 16
                      | static_cast<std::uint8_t>(bytes[i + 1]) << 8
                      | static_cast<std::uint8_t>(bytes[i + 2]);
    out += alphabet[v >> 18 & 63];
    out += alphabet[v >> 12 & 63];
    out += alphabet[v >> 6 & 63];
    out += alphabet[v & 63];
  }
  if (auto rest = bytes.size() - i; rest > 0) {
    std::uint32_t v = static_cast<std::uint8_t>(bytes[i]) << 16;
    if (rest == 2) {
      v |= static_cast<std::uint8_t>(bytes[i + 1]) << 8;
    }
    out += alphabet[v >> 18 & 63];
    out += alphabet[v >> 12 & 63];
    if (rest == 2) {
      out += alphabet[v >> 6 & 63];
    }
  }
  return out;
}

std::optional<std::string> decode(std::string_view text, std::string_view alphabet) {
  std::array<int, 256> value;
  value.fill(-1);
  for (std::size_t i = 0; i < alphabet.size(); ++i) {
    value[static_cast<unsigned char>(alphabet[i])] = static_cast<int>(i);
  }
  if (text.size() % 4 == 1) {
    return std::nullopt;
  }
  std::string out;
  out.reserve(text.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    int v = value[static_cast<unsigned char>(c)];
    if (v < 0) {
      return std::nullopt;
    }
    acc = acc << 6 | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>(acc >> bits & 0xFF);
    }
  }
  // Leftover bits must be zero: otherwise two spellings would decode to the same bytes.
  if ((acc & ((1u << bits) - 1)) != 0) {
    return std::nullopt;
  }
  return out;
}

} // namespace

std::string base64_encode(std::string_view bytes) {
  return encode(bytes, standard);
}

std::optional<std::string> base64_decode(std::string_view text) {
  auto unpadded = text;
  while (!unpadded.empty() && unpadded.back() == '=' && text.size() - unpadded.size() < 2) {
    unpadded.remove_suffix(1);
  }
  if (unpadded.size() != text.size() && text.size() % 4 != 0) {
    return std::nullopt; // padding, when present, completes the last quantum
  }
  return decode(unpadded, standard);
}

std::string base64url_encode(std::string_view bytes) {
  return encode(bytes, url_safe);
}

std::optional<std::string> base64url_decode(std::string_view text) {
  return decode(text, url_safe);
}

} // namespace herald::auth
