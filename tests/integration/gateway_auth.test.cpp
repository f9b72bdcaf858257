// The gateway accepts the users service's login tokens and refuses bad ones with a 401
// (API keys, scopes and every other route: authorization.test.cpp).

#include <boost/test/unit_test.hpp>

#include "runtime/auth/jwt.hpp"
#include "support/herald_api.hpp"

using namespace herald::test;
using json = nlohmann::json;
namespace jwt = herald::auth::jwt;

namespace {


struct auth_fixture {
  explicit auth_fixture(const std::map<std::string, std::string>& overrides = {})
    : node(overrides) {
    auto email = unique("auth-") + "@example.com";
    user_id = create_user(node, {{"email", email}, {"name", "Auth"}, {"password", "correct horse"}});
    code = create_email_template(node, {{"subject", "Hi"}, {"body", "Hello"},
                                        {"variables", json::array()}});
    auto login = post_json(node.url(1) + "/api/v1/users/login",
                           {{"email", email}, {"password", "correct horse"}});
    BOOST_REQUIRE_EQUAL(login.status, 200);
    token = login.body["data"]["token"].get<std::string>();
  }

  http_reply notify(const std::map<std::string, std::string>& headers) {
    return http_call("POST", node.url() + "/api/v1/notifications",
                     json{{"notification_type", "email"},
                          {"user_id", user_id},
                          {"template_code", code}}
                       .dump(),
                     headers);
  }

  running_node node;
  std::string user_id;
  std::string code;
  std::string token;
};

std::string claims_token(const json& claims) {
  return jwt::sign(claims, jwt_secret);
}

std::int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

void check_401(const http_reply& r, const std::string& mentions) {
  check_error(r, 401, mentions);
  BOOST_CHECK_NE(r.headers.count("WWW-Authenticate"), 0u);
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(gateway_auth, auth_fixture)

BOOST_AUTO_TEST_CASE(a_login_token_is_accepted) {
  BOOST_CHECK_EQUAL(notify({{"Authorization", "Bearer " + token}}).status, 202);
  BOOST_CHECK_EQUAL(notify({{"Authorization", "bearer " + token}}).status, 202);
}

BOOST_AUTO_TEST_CASE(a_tampered_token_is_a_401_naming_the_signature) {
  auto tampered = token;
  tampered.back() = tampered.back() == 'A' ? 'B' : 'A';
  check_401(notify({{"Authorization", "Bearer " + tampered}}), "signature");
}

BOOST_AUTO_TEST_CASE(alg_none_and_expired_tokens_are_refused) {
  auto header = std::string{"eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0"}; // {"alg":"none","typ":"JWT"}
  auto signed_token = claims_token({{"sub", user_id}, {"exp", now_s() + 600}});
  auto payload = signed_token.substr(signed_token.find('.') + 1);
  payload = payload.substr(0, payload.find('.'));
  check_401(notify({{"Authorization", "Bearer " + header + "." + payload + "."}}), "none");
  auto expired = claims_token({{"sub", user_id}, {"exp", now_s() - 3600}});
  check_401(notify({{"Authorization", "Bearer " + expired}}), "expired");
}

BOOST_AUTO_TEST_CASE(a_token_that_never_expires_or_of_another_issuer_is_refused) {
  // Signed with the right secret (leaked, or forged by someone who has it): still refused.
  auto forever = claims_token({{"sub", user_id}, {"exp", 1e30}, {"iss", "herald"}});
  check_401(notify({{"Authorization", "Bearer " + forever}}), "further ahead");
  auto foreign = claims_token({{"sub", user_id}, {"exp", now_s() + 600}, {"iss", "elsewhere"}});
  check_401(notify({{"Authorization", "Bearer " + foreign}}), "'iss'");
  auto fine = claims_token({{"sub", user_id}, {"exp", now_s() + 600}, {"iss", "herald"}});
  BOOST_CHECK_EQUAL(notify({{"Authorization", "Bearer " + fine}}).status, 202);
}

BOOST_AUTO_TEST_CASE(another_scheme_or_a_token_signed_elsewhere_is_refused) {
  check_401(notify({{"Authorization", "Basic dXNlcjpwYXNz"}}), "Bearer");
  auto foreign = jwt::sign({{"sub", user_id}, {"exp", now_s() + 600}}, "someone-else");
  check_401(notify({{"Authorization", "Bearer " + foreign}}), "signature");
}

BOOST_AUTO_TEST_CASE(reading_a_notification_checks_the_token_too) {
  auto accepted = notify({{"Authorization", "Bearer " + token}});
  BOOST_REQUIRE_EQUAL(accepted.status, 202);
  auto url = node.url() + "/api/v1/notifications/"
             + accepted.body["data"]["notification_id"].get<std::string>();
  check_401(http_call("GET", url, {}, {{"Authorization", "Bearer not.a.token"}}), "token");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(gateway_auth_required, auth_fixture)

BOOST_AUTO_TEST_CASE(a_request_without_a_token_is_a_401_but_health_needs_none) {
  check_401(notify(no_credential), "missing credential");
  BOOST_CHECK_EQUAL(notify({{"Authorization", "Bearer " + token}}).status, 202);
  BOOST_CHECK_EQUAL(http_call("GET", node.url() + "/health").status, 200);
  BOOST_CHECK_EQUAL(http_call("GET", node.url() + "/health/ready").status, 200);
}

BOOST_AUTO_TEST_SUITE_END()
