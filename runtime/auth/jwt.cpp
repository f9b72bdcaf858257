#include "runtime/auth/jwt.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>

#include "runtime/auth/base64.hpp"

namespace herald::auth::jwt {

namespace {

using json = nlohmann::json;

std::string hs256(std::string_view signing_input, std::string_view secret) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
           reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size(),
           mac, &length)
      == nullptr) {
    throw std::runtime_error("HMAC-SHA256 failed");
  }
  return base64url_encode({reinterpret_cast<const char*>(mac), length});
}

verify_result refuse(std::string why) {
  return {std::nullopt, std::move(why)};
}

std::optional<json> decode_object(std::string_view part) {
  auto text = base64url_decode(part);
  if (!text) {
    return std::nullopt;
  }
  auto j = json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return std::nullopt;
  }
  return j;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

} // namespace

std::string sign(const json& claims, std::string_view secret) {
  if (secret.empty()) {
    throw std::invalid_argument("jwt::sign: the secret must not be empty");
  }
  if (!claims.is_object()) {
    throw std::invalid_argument("jwt::sign: the claims must be a JSON object");
  }
  static const std::string header = base64url_encode(R"({"alg":"HS256","typ":"JWT"})");
  auto input = header + "." + base64url_encode(claims.dump());
  return input + "." + hs256(input, secret);
}

verify_result verify(std::string_view token, std::string_view secret,
                     std::chrono::system_clock::time_point now, std::chrono::seconds leeway,
                     const expectations& expect) {
  if (secret.empty()) {
    return refuse("no secret configured to check tokens with");
  }
  if (token.size() > max_token_length) {
    return refuse("malformed token: longer than " + std::to_string(max_token_length)
                  + " characters");
  }
  auto first = token.find('.');
  auto second = first == std::string_view::npos ? first : token.find('.', first + 1);
  if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos) {
    return refuse("malformed token: expected three dot-separated parts");
  }
  auto header = decode_object(token.substr(0, first));
  if (!header) {
    return refuse("malformed token: the header is not a base64url JSON object");
  }
  auto alg = header->find("alg");
  if (alg == header->end() || !alg->is_string()) {
    return refuse("malformed token: the header names no algorithm ('alg')");
  }
  if (lower(alg->get<std::string>()) == "none") {
    return refuse("unsigned token refused: algorithm 'none'");
  }
  if (alg->get<std::string>() != "HS256") {
    return refuse("algorithm '" + alg->get<std::string>() + "' refused: only HS256 is accepted");
  }
  if (header->contains("crit")) {
    return refuse("token refused: critical header extensions ('crit') are not supported");
  }
  auto signing_input = token.substr(0, second);
  auto given = token.substr(second + 1);
  auto expected = hs256(signing_input, secret);
  // Lengths are public (always 43 for HS256); the contents are compared in constant time.
  if (given.size() != expected.size()
      || CRYPTO_memcmp(given.data(), expected.data(), expected.size()) != 0) {
    return refuse("bad signature");
  }
  auto claims = decode_object(token.substr(first + 1, second - first - 1));
  if (!claims) {
    return refuse("malformed token: the payload is not a base64url JSON object");
  }
  auto seconds_now = static_cast<double>(
    std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count());
  auto slack = static_cast<double>(leeway.count());
  auto exp = claims->find("exp");
  if (exp == claims->end()) {
    return refuse("token refused: no expiry ('exp')");
  }
  if (!exp->is_number()) {
    return refuse("malformed token: 'exp' is not a number");
  }
  if (seconds_now >= exp->get<double>() + slack) {
    return refuse("token expired");
  }
  if (expect.max_lifetime.count() > 0
      && exp->get<double>() > seconds_now + static_cast<double>(expect.max_lifetime.count()) + slack) {
    return refuse("token refused: 'exp' is further ahead than a token lives ("
                  + std::to_string(expect.max_lifetime.count()) + " s)");
  }
  if (!expect.issuer.empty()) {
    auto iss = claims->find("iss");
    if (iss == claims->end() || !iss->is_string() || iss->get<std::string>() != expect.issuer) {
      return refuse("token refused: not issued by '" + expect.issuer + "' ('iss')");
    }
  }
  if (auto nbf = claims->find("nbf"); nbf != claims->end()) {
    if (!nbf->is_number()) {
      return refuse("malformed token: 'nbf' is not a number");
    }
    if (seconds_now + slack < nbf->get<double>()) {
      return refuse("token not valid yet ('nbf')");
    }
  }
  return {std::move(claims), {}};
}

} // namespace herald::auth::jwt
