#include "runtime/auth/api_key.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <stdexcept>

#include "runtime/auth/base64.hpp"

namespace herald::auth {

namespace {

constexpr std::size_t key_bytes = 32;
constexpr std::size_t prefix_chars = 8;

} // namespace

const std::vector<scope_info>& known_scopes() {
  static const std::vector<scope_info> scopes{
    {scope::notifications_write, "notifications:write", "send notifications to any user"},
    {scope::notifications_read, "notifications:read", "read any notification's status"},
    {scope::users_read, "users:read", "read and list users, their preferences and devices"},
    {scope::users_write, "users:write",
     "create, change and delete users, their preferences and devices"},
    {scope::templates_read, "templates:read", "read templates, their versions and previews"},
    {scope::templates_write, "templates:write", "create templates and new versions"},
    {scope::introspection_read, "introspection:read",
     "read the node's actors and counters (/api/v1/introspection/actors, /api/v1/users/stats)"},
  };
  return scopes;
}

std::string_view scope_name(scope s) {
  for (auto& info : known_scopes()) {
    if (info.value == s) {
      return info.name;
    }
  }
  return {};
}

std::optional<scope> scope_named(std::string_view name) {
  for (auto& info : known_scopes()) {
    if (info.name == name) {
      return info.value;
    }
  }
  return std::nullopt;
}

std::vector<std::string> scope_names(scope_set set) {
  std::vector<std::string> out;
  for (auto& info : known_scopes()) {
    if (has(set, info.value)) {
      out.emplace_back(info.name);
    }
  }
  return out;
}

std::string sha256(std::string_view text) {
  std::string out(32, '\0');
  unsigned int length = 0;
  if (EVP_Digest(text.data(), text.size(), reinterpret_cast<unsigned char*>(out.data()),
                 &length, EVP_sha256(), nullptr)
        != 1
      || length != out.size()) {
    throw std::runtime_error("SHA-256 failed");
  }
  return out;
}

new_api_key generate_api_key() {
  std::string random(key_bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(random.data()), static_cast<int>(key_bytes))
      != 1) {
    throw std::runtime_error("the system's random generator failed");
  }
  new_api_key k;
  k.key = std::string{api_key_marker} + base64url_encode(random);
  k.prefix = k.key.substr(0, api_key_marker.size() + prefix_chars);
  k.digest = sha256(k.key);
  return k;
}

std::string to_hex(std::string_view bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

std::optional<std::string> from_hex(std::string_view hex) {
  auto value = [](char c) -> int {
    if (c >= '0' && c <= '9') {
      return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
      return c - 'a' + 10;
    }
    return -1;
  };
  if (hex.size() % 2 != 0) {
    return std::nullopt;
  }
  std::string out;
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    auto hi = value(hex[i]);
    auto lo = value(hex[i + 1]);
    if (hi < 0 || lo < 0) {
      return std::nullopt;
    }
    out += static_cast<char>(hi * 16 + lo);
  }
  return out;
}

bool equal_in_constant_time(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

} // namespace herald::auth
