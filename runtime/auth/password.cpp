#include "runtime/auth/password.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <charconv>
#include <stdexcept>
#include <vector>

#include "runtime/auth/base64.hpp"

namespace herald::auth {

namespace {

constexpr std::string_view scheme = "pbkdf2-sha256";
constexpr std::size_t salt_bytes = 16;
constexpr std::size_t hash_bytes = 32; // SHA-256's output: longer buys nothing

struct parsed_hash {
  int iterations = 0;
  std::string salt;
  std::string hash;
};

std::string derive(std::string_view password, std::string_view salt, int iterations,
                   std::size_t length) {
  std::string out(length, '\0');
  if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                        reinterpret_cast<const unsigned char*>(salt.data()),
                        static_cast<int>(salt.size()), iterations, EVP_sha256(),
                        static_cast<int>(length), reinterpret_cast<unsigned char*>(out.data()))
      != 1) {
    throw std::runtime_error("PKCS5_PBKDF2_HMAC failed");
  }
  return out;
}

std::optional<parsed_hash> parse(std::string_view encoded) {
  std::vector<std::string_view> parts;
  while (true) {
    auto dollar = encoded.find('$');
    parts.push_back(encoded.substr(0, dollar));
    if (dollar == std::string_view::npos) {
      break;
    }
    encoded.remove_prefix(dollar + 1);
  }
  if (parts.size() != 4 || parts[0] != scheme) {
    return std::nullopt;
  }
  parsed_hash p;
  auto [end, ec] = std::from_chars(parts[1].data(), parts[1].data() + parts[1].size(),
                                   p.iterations);
  if (ec != std::errc{} || end != parts[1].data() + parts[1].size() || p.iterations < 1
      || p.iterations > max_password_iterations) {
    return std::nullopt;
  }
  auto salt = base64_decode(parts[2]);
  auto hash = base64_decode(parts[3]);
  if (!salt || !hash || salt->empty() || hash->size() < 16 || hash->size() > 64) {
    return std::nullopt;
  }
  p.salt = std::move(*salt);
  p.hash = std::move(*hash);
  return p;
}

void check_iterations(int iterations) {
  if (iterations < 1 || iterations > max_password_iterations) {
    throw std::invalid_argument("password iterations must be between 1 and "
                                + std::to_string(max_password_iterations));
  }
}

} // namespace

std::string hash_password(std::string_view password, int iterations, std::string_view salt) {
  check_iterations(iterations);
  if (salt.empty()) {
    throw std::invalid_argument("password salt must not be empty");
  }
  return std::string{scheme} + "$" + std::to_string(iterations) + "$" + base64_encode(salt)
         + "$" + base64_encode(derive(password, salt, iterations, hash_bytes));
}

std::string hash_password(std::string_view password, int iterations) {
  check_iterations(iterations);
  std::string salt(salt_bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(salt.data()), static_cast<int>(salt.size()))
      != 1) {
    throw std::runtime_error("RAND_bytes failed: no salt for the password hash");
  }
  return hash_password(password, iterations, salt);
}

bool verify_password(std::string_view password, std::string_view encoded) {
  auto p = parse(encoded);
  if (!p) {
    return false;
  }
  auto candidate = derive(password, p->salt, p->iterations, p->hash.size());
  return CRYPTO_memcmp(candidate.data(), p->hash.data(), candidate.size()) == 0;
}

std::optional<int> password_hash_iterations(std::string_view encoded) {
  auto p = parse(encoded);
  return p ? std::optional<int>{p->iterations} : std::nullopt;
}

} // namespace herald::auth
