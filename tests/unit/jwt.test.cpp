#include "runtime/auth/base64.hpp"
#include "runtime/auth/jwt.hpp"

#include <boost/test/unit_test.hpp>

namespace jwt = herald::auth::jwt;
using herald::auth::base64url_decode;
using herald::auth::base64url_encode;
using json = nlohmann::json;
using clock_type = std::chrono::system_clock;

namespace {

clock_type::time_point at(long long seconds) {
  return clock_type::time_point{std::chrono::seconds{seconds}};
}

const std::string secret = "test-secret-of-reasonable-length";

std::string token_at(long long iat, long long exp) {
  return jwt::sign({{"sub", "user-1"}, {"iat", iat}, {"exp", exp}, {"iss", "herald"}}, secret);
}

/// Replaces one part (0 header, 1 payload, 2 signature) of a token.
std::string with_part(const std::string& token, int index, const std::string& part) {
  auto a = token.find('.');
  auto b = token.find('.', a + 1);
  std::string parts[3] = {token.substr(0, a), token.substr(a + 1, b - a - 1), token.substr(b + 1)};
  parts[index] = part;
  return parts[0] + "." + parts[1] + "." + parts[2];
}

} // namespace

BOOST_AUTO_TEST_SUITE(jwt_hs256)

// RFC 7515 appendix A.1: an HS256 JWS with its key, header, payload and signature.
BOOST_AUTO_TEST_CASE(the_rfc_7515_hs256_example_verifies_before_its_expiry_and_not_after) {
  auto key = base64url_decode(
    "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow");
  BOOST_REQUIRE(key);
  std::string token =
    "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9"
    ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
    ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
  auto r = jwt::verify(token, *key, at(1300819379));
  BOOST_TEST_REQUIRE(r.ok(), r.error);
  BOOST_TEST((*r.claims)["iss"] == "joe");
  BOOST_TEST((*r.claims)["http://example.com/is_root"] == true);
  BOOST_TEST(jwt::verify(token, *key, at(1300819380)).error == "token expired");
}

BOOST_AUTO_TEST_CASE(sign_produces_hs256_over_header_and_payload) {
  auto token = token_at(1000, 2000);
  auto header = base64url_decode(token.substr(0, token.find('.')));
  BOOST_REQUIRE(header);
  BOOST_TEST(json::parse(*header) == json({{"alg", "HS256"}, {"typ", "JWT"}}));
  auto r = jwt::verify(token, secret, at(1500));
  BOOST_TEST_REQUIRE(r.ok(), r.error);
  BOOST_TEST((*r.claims)["sub"] == "user-1");
  BOOST_TEST((*r.claims)["exp"] == 2000);
  BOOST_TEST(token.find('=') == std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_token_expires_at_exp_and_leeway_extends_it) {
  auto token = token_at(1000, 2000);
  BOOST_TEST(jwt::verify(token, secret, at(1999)).ok());
  BOOST_TEST(jwt::verify(token, secret, at(2000)).error == "token expired");
  BOOST_TEST(jwt::verify(token, secret, at(2029), std::chrono::seconds{30}).ok());
}

BOOST_AUTO_TEST_CASE(an_exp_further_ahead_than_a_token_lives_is_refused) {
  jwt::expectations expect{"", std::chrono::seconds{3600}};
  BOOST_TEST(jwt::verify(token_at(1000, 4600), secret, at(1000), {}, expect).ok());
  auto far = jwt::verify(token_at(1000, 4601), secret, at(1000), {}, expect);
  BOOST_TEST(!far.ok());
  BOOST_TEST(far.error.find("further ahead") != std::string::npos, far.error);
  auto forever = jwt::sign({{"sub", "user-1"}, {"exp", 1e30}, {"iss", "herald"}}, secret);
  BOOST_TEST(!jwt::verify(forever, secret, at(1000), {}, expect).ok());
  BOOST_TEST(jwt::verify(forever, secret, at(1000)).ok()); // no expectation: any exp
}

BOOST_AUTO_TEST_CASE(a_token_of_another_issuer_or_none_is_refused_when_one_is_expected) {
  jwt::expectations expect{"herald", std::chrono::seconds{0}};
  BOOST_TEST(jwt::verify(token_at(1000, 2000), secret, at(1500), {}, expect).ok());
  auto other = jwt::sign({{"sub", "user-1"}, {"exp", 2000}, {"iss", "someone"}}, secret);
  auto none = jwt::sign({{"sub", "user-1"}, {"exp", 2000}}, secret);
  auto number = jwt::sign({{"sub", "user-1"}, {"exp", 2000}, {"iss", 7}}, secret);
  for (auto& t : {other, none, number}) {
    auto r = jwt::verify(t, secret, at(1500), {}, expect);
    BOOST_TEST(!r.ok());
    BOOST_TEST(r.error.find("'iss'") != std::string::npos, r.error);
  }
}

BOOST_AUTO_TEST_CASE(another_secret_is_a_bad_signature) {
  BOOST_TEST(jwt::verify(token_at(1000, 2000), "another secret", at(1500)).error
             == "bad signature");
}

BOOST_AUTO_TEST_CASE(a_tampered_payload_or_signature_is_refused) {
  auto token = token_at(1000, 2000);
  auto forged = base64url_encode(R"({"sub":"admin","iat":1000,"exp":2000,"iss":"herald"})");
  BOOST_TEST(jwt::verify(with_part(token, 1, forged), secret, at(1500)).error == "bad signature");
  auto sig = token.substr(token.rfind('.') + 1);
  sig[0] = sig[0] == 'A' ? 'B' : 'A';
  BOOST_TEST(jwt::verify(with_part(token, 2, sig), secret, at(1500)).error == "bad signature");
  BOOST_TEST(jwt::verify(with_part(token, 2, ""), secret, at(1500)).error == "bad signature");
}

BOOST_AUTO_TEST_CASE(alg_none_is_refused_with_or_without_a_signature) {
  auto token = token_at(1000, 2000);
  for (auto alg : {"none", "None", "NONE"}) {
    auto header = base64url_encode(json({{"alg", alg}, {"typ", "JWT"}}).dump());
    auto unsigned_token = with_part(token, 0, header);
    auto r = jwt::verify(unsigned_token.substr(0, unsigned_token.rfind('.') + 1), secret, at(1500));
    BOOST_TEST(!r.ok());
    BOOST_TEST(r.error.find("'none'") != std::string::npos, r.error);
    BOOST_TEST(!jwt::verify(unsigned_token, secret, at(1500)).ok());
  }
}

BOOST_AUTO_TEST_CASE(algorithms_other_than_hs256_are_refused) {
  auto token = token_at(1000, 2000);
  for (auto alg : {"HS512", "RS256", "hs256"}) {
    auto header = base64url_encode(json({{"alg", alg}}).dump());
    auto r = jwt::verify(with_part(token, 0, header), secret, at(1500));
    BOOST_TEST(r.error.find("only HS256") != std::string::npos, r.error);
  }
  auto crit = base64url_encode(R"({"alg":"HS256","crit":["exp"]})");
  BOOST_TEST(jwt::verify(with_part(token, 0, crit), secret, at(1500)).error.find("crit")
             != std::string::npos);
}

BOOST_AUTO_TEST_CASE(malformed_tokens_are_refused_with_a_reason) {
  auto token = token_at(1000, 2000);
  for (std::string bad : {std::string{}, std::string{"abc"}, std::string{"a.b"},
                          token + ".extra", std::string{"!!.e30.sig"},
                          with_part(token, 0, base64url_encode("[1]"))}) {
    auto r = jwt::verify(bad, secret, at(1500));
    BOOST_TEST(!r.ok());
    BOOST_TEST(r.error.find("malformed") != std::string::npos, r.error);
  }
  BOOST_TEST(jwt::verify(std::string(jwt::max_token_length + 1, 'a'), secret, at(1500)).error
               .find("longer") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_token_without_a_numeric_exp_is_refused) {
  auto no_exp = jwt::sign({{"sub", "user-1"}}, secret);
  BOOST_TEST(jwt::verify(no_exp, secret, at(1500)).error.find("'exp'") != std::string::npos);
  auto text_exp = jwt::sign({{"sub", "user-1"}, {"exp", "2000"}}, secret);
  BOOST_TEST(jwt::verify(text_exp, secret, at(1500)).error.find("'exp'") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_token_before_its_nbf_is_refused) {
  auto token = jwt::sign({{"exp", 3000}, {"nbf", 2000}}, secret);
  BOOST_TEST(jwt::verify(token, secret, at(1999)).error.find("nbf") != std::string::npos);
  BOOST_TEST(jwt::verify(token, secret, at(2000)).ok());
}

BOOST_AUTO_TEST_CASE(an_empty_secret_signs_nothing_and_accepts_nothing) {
  BOOST_CHECK_THROW(jwt::sign({{"exp", 2000}}, ""), std::invalid_argument);
  BOOST_TEST(!jwt::verify(token_at(1000, 2000), "", at(1500)).ok());
}

BOOST_AUTO_TEST_SUITE_END()
