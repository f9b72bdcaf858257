// Bearer tokens and the base64 codecs under them. The input is verified as a token with
// the gateway's expectations and a fixed secret and clock (the seeds hold tokens signed
// with that secret, so mutations reach the claim checks too); read as claims (a JSON
// object), it is signed and must verify, giving back exactly those claims; read as
// base64 or base64url text, a decoder that accepts it must give bytes that encode back to
// the same text (base64.hpp: one accepted spelling per byte string).

#include "fuzz/support.hpp"
#include "runtime/auth/base64.hpp"
#include "runtime/auth/jwt.hpp"

#include <chrono>
#include <string_view>

using namespace herald;
using fuzz::require;

namespace {

constexpr std::string_view secret = "fuzz-secret-0123456789abcdef";
/// 2026-01-01T00:00:00Z: the seeds' tokens expire an hour later.
const auto now = std::chrono::system_clock::time_point{std::chrono::seconds{1767225600}};
const auth::jwt::expectations gateway{auth::jwt::herald_issuer, std::chrono::seconds{3600}};

void check_verify(std::string_view token) {
  auto r = auth::jwt::verify(token, secret, now, std::chrono::seconds{0}, gateway);
  require(r.ok() != !r.error.empty(), "verify gives claims or a reason, never both");
  if (!r.ok()) {
    return;
  }
  require(r.claims->is_object(), "verified claims are an object");
  auto exp = r.claims->find("exp");
  auto seconds_now = std::chrono::duration<double>(now.time_since_epoch()).count();
  require(exp != r.claims->end() && exp->is_number() && exp->get<double>() > seconds_now
            && exp->get<double>() <= seconds_now + 3600,
          "a verified token expires within the lifetime");
  require(r.claims->value("iss", "") == auth::jwt::herald_issuer, "a verified token is Herald's");
  require(auth::jwt::verify(token, "another secret", now).error == "bad signature",
          "a token verified with one secret is refused with another");
}

void check_sign(std::string_view text) {
  auto claims = nlohmann::json::parse(text, nullptr, false);
  if (!claims.is_object()) {
    return;
  }
  claims["exp"] = 1767225600 + 600;
  claims["iss"] = auth::jwt::herald_issuer;
  claims.erase("nbf");
  auto token = auth::jwt::sign(claims, secret);
  auto r = auth::jwt::verify(token, secret, now, std::chrono::seconds{0}, gateway);
  require(r.ok(), "a token Herald signs verifies");
  require(*r.claims == claims, "verify gives back the claims that were signed");
}

void check_base64(std::string_view text) {
  if (auto bytes = auth::base64url_decode(text)) {
    require(auth::base64url_encode(*bytes) == text, "base64url has one spelling per value");
  }
  if (auto bytes = auth::base64_decode(text)) {
    auto unpadded = text.substr(0, text.find_last_not_of('=') + 1);
    require(auth::base64_encode(*bytes) == unpadded, "base64 has one spelling per value");
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input{reinterpret_cast<const char*>(data), size};
  check_verify(input);
  check_sign(input);
  check_base64(input);
  return 0;
}
