// push::fcm, the FCM HTTP v1 protocol as values: the service-account file, the RS256 JWT
// assertion (verified here with the key's public half), the token request and answer, the
// access-token cache on a fake clock, the v1 message's shape, and the reading of FCM's
// answers in Google's error shape.

#include <boost/test/unit_test.hpp>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <memory>
#include <nlohmann/json.hpp>

#include "adapters/push/fcm.hpp"
#include "runtime/auth/base64.hpp"
#include "tests/support/rs256.hpp"

using namespace std::chrono_literals;
using json = nlohmann::json;
namespace fcm = herald::push::fcm;
using herald::test::verify_rs256;

namespace {

/// A fresh 2048-bit RSA key pair as PEM (generated once for the suite).
const herald::test::rsa_key_pair& test_key() {
  static const auto key = herald::test::make_rsa_key();
  return key;
}

json account_json() {
  return {{"type", "service_account"},
          {"project_id", "herald-test"},
          {"private_key_id", "kid-123"},
          {"private_key", test_key().private_pem},
          {"client_email", "sender@herald-test.iam.gserviceaccount.com"},
          {"client_id", "1234"},
          {"token_uri", "https://oauth2.example.test/token"}};
}

fcm::service_account account() {
  auto r = fcm::parse_service_account(account_json().dump());
  BOOST_REQUIRE_MESSAGE(r.account, r.error);
  return *r.account;
}

json decode_part(const std::string& part) {
  auto bytes = herald::auth::base64url_decode(part);
  BOOST_REQUIRE(bytes);
  return json::parse(*bytes);
}

json error_body(int code, const std::string& status, const std::string& fcm_code,
                bool token_violation = false) {
  json details = json::array();
  if (!fcm_code.empty()) {
    details.push_back({{"@type", "type.googleapis.com/google.firebase.fcm.v1.FcmError"},
                       {"errorCode", fcm_code}});
  }
  if (token_violation) {
    details.push_back({{"@type", "type.googleapis.com/google.rpc.BadRequest"},
                       {"fieldViolations",
                        {{{"field", "message.token"},
                          {"description", "Invalid registration token"}}}}});
  }
  return {{"error",
           {{"code", code}, {"message", "Request failed."}, {"status", status},
            {"details", details}}}};
}

} // namespace

BOOST_AUTO_TEST_SUITE(fcm_protocol)

// -- credentials ---------------------------------------------------------------

BOOST_AUTO_TEST_CASE(a_service_account_file_is_read_field_by_field) {
  auto a = account();
  BOOST_TEST(a.project_id == "herald-test");
  BOOST_TEST(a.private_key_id == "kid-123");
  BOOST_TEST(a.client_email == "sender@herald-test.iam.gserviceaccount.com");
  BOOST_TEST(a.token_uri == "https://oauth2.example.test/token");
}

BOOST_AUTO_TEST_CASE(a_missing_or_bad_field_is_named) {
  for (auto field : {"type", "project_id", "private_key_id", "private_key", "client_email",
                     "token_uri"}) {
    auto doc = account_json();
    doc.erase(field);
    auto r = fcm::parse_service_account(doc.dump());
    BOOST_TEST(!r.account);
    BOOST_TEST(r.error == std::string{"field '"} + field + "' is missing");
  }
  auto doc = account_json();
  doc["type"] = "authorized_user";
  BOOST_TEST(fcm::parse_service_account(doc.dump()).error.find("field 'type'") == 0u);
  doc = account_json();
  doc["private_key"] = "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n";
  BOOST_TEST(fcm::parse_service_account(doc.dump()).error
             == "field 'private_key' is not a PEM RSA private key");
  doc = account_json();
  doc["token_uri"] = "ftp://x/token";
  BOOST_TEST(fcm::parse_service_account(doc.dump()).error.find("field 'token_uri'") == 0u);
  doc = account_json();
  doc["client_email"] = 7;
  BOOST_TEST(fcm::parse_service_account(doc.dump()).error
             == "field 'client_email' must be a non-empty string");
  BOOST_TEST(!fcm::parse_service_account("[1,2]").account);
  BOOST_TEST(!fcm::parse_service_account("{not json").account);
  BOOST_TEST(fcm::load_service_account("/nonexistent/fcm.json").error.find("/nonexistent/fcm.json")
             != std::string::npos);
}

BOOST_AUTO_TEST_CASE(the_assertion_is_an_rs256_jwt_with_google_claims) {
  auto a = account();
  auto now = std::chrono::system_clock::time_point{std::chrono::seconds{1'800'000'000}};
  auto r = fcm::assertion(a, now);
  BOOST_REQUIRE_MESSAGE(r.error.empty(), r.error);
  auto dot1 = r.jwt.find('.');
  auto dot2 = r.jwt.find('.', dot1 + 1);
  BOOST_REQUIRE(dot2 != std::string::npos);
  auto header = decode_part(r.jwt.substr(0, dot1));
  auto claims = decode_part(r.jwt.substr(dot1 + 1, dot2 - dot1 - 1));
  BOOST_TEST(header == (json{{"alg", "RS256"}, {"typ", "JWT"}, {"kid", "kid-123"}}));
  BOOST_TEST(claims["iss"] == "sender@herald-test.iam.gserviceaccount.com");
  BOOST_TEST(claims["scope"] == "https://www.googleapis.com/auth/firebase.messaging");
  BOOST_TEST(claims["aud"] == "https://oauth2.example.test/token");
  BOOST_TEST(claims["iat"] == 1'800'000'000);
  BOOST_TEST(claims["exp"] == 1'800'003'600);

  auto signature = herald::auth::base64url_decode(r.jwt.substr(dot2 + 1));
  BOOST_REQUIRE(signature);
  BOOST_TEST(verify_rs256(test_key().public_pem, r.jwt.substr(0, dot2), *signature));
  auto tampered = r.jwt.substr(0, dot2);
  tampered[dot1 + 3] = tampered[dot1 + 3] == 'A' ? 'B' : 'A';
  BOOST_TEST(!verify_rs256(test_key().public_pem, tampered, *signature));
}

BOOST_AUTO_TEST_CASE(the_token_request_is_a_form_encoded_jwt_bearer_grant) {
  auto r = fcm::token_request(account(), "aaa.bbb.c-_");
  BOOST_TEST(r.method == "POST");
  BOOST_TEST(r.url == "https://oauth2.example.test/token");
  BOOST_TEST(r.body
             == "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"
                "&assertion=aaa.bbb.c-_");
  bool form = false;
  for (auto& [name, value] : r.headers) {
    form = form || (name == "Content-Type" && value == "application/x-www-form-urlencoded");
  }
  BOOST_TEST(form);
}

BOOST_AUTO_TEST_CASE(the_token_answer_is_read_and_refusals_are_values) {
  herald::http::client_response ok;
  ok.status = 200;
  ok.body = R"({"access_token": "ya29.abc", "expires_in": 3599, "token_type": "Bearer"})";
  auto t = fcm::read_token_response(ok);
  BOOST_REQUIRE_MESSAGE(t.token, t.error);
  BOOST_TEST(t.token->value == "ya29.abc");
  BOOST_TEST(t.token->expires_in.count() == 3599);

  herald::http::client_response refused;
  refused.status = 400;
  refused.body = R"({"error": "invalid_grant", "error_description": "Invalid JWT Signature."})";
  auto r = fcm::read_token_response(refused);
  BOOST_TEST(!r.token);
  BOOST_TEST(r.credentials_rejected);
  BOOST_TEST(r.error == "token endpoint answered 400: invalid_grant (Invalid JWT Signature.)");

  herald::http::client_response down;
  down.status = 503;
  BOOST_TEST(!fcm::read_token_response(down).credentials_rejected);

  herald::http::client_response no_expiry = ok;
  no_expiry.body = R"({"access_token": "x", "token_type": "Bearer"})";
  BOOST_TEST(!fcm::read_token_response(no_expiry).token);
  herald::http::client_response wrong_type = ok;
  wrong_type.body = R"({"access_token": "x", "expires_in": 10, "token_type": "MAC"})";
  BOOST_TEST(!fcm::read_token_response(wrong_type).token);

  herald::http::client_response unreachable;
  unreachable.error = herald::http::transport_error::refused;
  auto u = fcm::read_token_response(unreachable);
  BOOST_TEST(!u.token);
  BOOST_TEST(!u.credentials_rejected);
  BOOST_TEST(u.error.find("refused") != std::string::npos);
}

// -- the cache -----------------------------------------------------------------

BOOST_AUTO_TEST_CASE(a_token_is_reused_until_five_minutes_before_it_expires) {
  fcm::token_cache cache;
  fcm::token_cache::time_point t0{};
  BOOST_TEST(!cache.current(t0));
  cache.store({"tok-1", 3600s}, t0);
  BOOST_TEST(cache.current(t0).value() == "tok-1");
  BOOST_TEST(cache.current(t0 + 54min + 59s).value() == "tok-1");
  BOOST_TEST(!cache.current(t0 + 55min));
}

BOOST_AUTO_TEST_CASE(a_short_lived_token_is_refreshed_a_third_of_its_lifetime_early) {
  fcm::token_cache cache;
  fcm::token_cache::time_point t0{};
  cache.store({"short", 30s}, t0);
  BOOST_TEST(cache.current(t0 + 19s).value() == "short");
  BOOST_TEST(!cache.current(t0 + 20s));
}

BOOST_AUTO_TEST_CASE(a_401_forgets_that_token_but_not_a_newer_one) {
  fcm::token_cache cache;
  fcm::token_cache::time_point t0{};
  cache.store({"old", 3600s}, t0);
  cache.invalidate("old");
  BOOST_TEST(!cache.current(t0 + 1s));
  cache.store({"new", 3600s}, t0 + 1s);
  cache.invalidate("old"); // a late 401 for the old token
  BOOST_TEST(cache.current(t0 + 2s).value() == "new");
}

// -- messages ------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(a_plain_message_has_token_notification_and_priorities) {
  fcm::content c{"Hello", "World", {}, {}, {}, fcm::priority::normal, {}};
  auto m = fcm::build_message("dev-1", c);
  BOOST_REQUIRE_MESSAGE(m.error.empty(), m.error);
  auto doc = json::parse(m.json);
  BOOST_TEST(doc == (json{{"message",
                           {{"token", "dev-1"},
                            {"notification", {{"title", "Hello"}, {"body", "World"}}},
                            {"android", {{"priority", "normal"}}},
                            {"apns", {{"headers", {{"apns-priority", "5"}}}}}}}}));
}

BOOST_AUTO_TEST_CASE(image_link_data_and_high_priority_fill_their_blocks) {
  fcm::content c{"T", "B", "https://img.example/a.png", "https://example.com/orders/7",
                 {{"order", "7"}}, fcm::priority::high, "OPEN_ORDER"};
  auto doc = json::parse(fcm::build_message("dev-2", c).json)["message"];
  BOOST_TEST(doc["notification"]["image"] == "https://img.example/a.png");
  BOOST_TEST(doc["data"] == (json{{"order", "7"}, {"link", "https://example.com/orders/7"}}));
  BOOST_TEST(doc["android"] == (json{{"priority", "high"},
                                     {"notification", {{"click_action", "OPEN_ORDER"}}}}));
  BOOST_TEST(doc["apns"]["headers"]["apns-priority"] == "10");
  BOOST_TEST(doc["webpush"] == (json{{"fcm_options", {{"link", "https://example.com/orders/7"}}}}));
}

BOOST_AUTO_TEST_CASE(a_link_that_is_not_https_or_an_empty_token_cannot_be_sent) {
  fcm::content c{"T", "B", {}, "http://example.com/x", {}, fcm::priority::normal, {}};
  BOOST_TEST(!fcm::build_message("dev", c).error.empty());
  c.link = {};
  BOOST_TEST(!fcm::build_message("", c).error.empty());
}

BOOST_AUTO_TEST_CASE(template_data_becomes_string_values) {
  auto data = fcm::string_data(json{{"s", "x"}, {"n", 5}, {"b", true}, {"o", {{"k", 1}}}});
  BOOST_TEST(data == (std::map<std::string, std::string>{
                       {"s", "x"}, {"n", "5"}, {"b", "true"}, {"o", "{\"k\":1}"}}));
  BOOST_TEST(fcm::string_data(json::array()).empty());
}

BOOST_AUTO_TEST_CASE(the_send_request_goes_to_the_project_with_the_bearer_token) {
  auto r = fcm::send_request("https://fcm.googleapis.com/", "herald-test", "ya29.t", "{}");
  BOOST_TEST(r.url == "https://fcm.googleapis.com/v1/projects/herald-test/messages:send");
  BOOST_TEST(r.headers.at(0).second == "Bearer ya29.t");
  BOOST_TEST(r.body == "{}");
}

// -- outcomes ------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(fcm_answers_are_classified_as_the_table_says) {
  using fcm::verdict;
  auto c = [](int status, const json& body, std::map<std::string, std::string> h = {}) {
    return fcm::classify(status, h, body.dump());
  };
  auto ok = c(200, {{"name", "projects/herald-test/messages/0:123"}});
  BOOST_TEST((ok.result == verdict::accepted));
  BOOST_TEST(ok.message_name == "projects/herald-test/messages/0:123");

  auto gone = c(404, error_body(404, "NOT_FOUND", "UNREGISTERED"));
  BOOST_TEST((gone.result == verdict::device_gone));
  BOOST_TEST(gone.permanent());
  BOOST_TEST(gone.detail.find("UNREGISTERED") != std::string::npos);
  BOOST_TEST((c(404, error_body(404, "NOT_FOUND", "")).result == verdict::transient));

  BOOST_TEST((c(400, error_body(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", true)).result
              == verdict::device_gone));
  BOOST_TEST((c(400, error_body(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT")).result
              == verdict::message_rejected));
  BOOST_TEST((c(400, json{{"error", {{"code", 400}, {"status", "INVALID_ARGUMENT"}}}}).result
              == verdict::message_rejected));

  BOOST_TEST((c(401, error_body(401, "UNAUTHENTICATED", "")).result == verdict::token_rejected));
  BOOST_TEST((c(401, error_body(401, "UNAUTHENTICATED", "THIRD_PARTY_AUTH_ERROR")).result
              == verdict::message_rejected));
  auto mismatch = c(403, error_body(403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH"));
  BOOST_TEST((mismatch.result == verdict::wrong_sender));
  BOOST_TEST(mismatch.permanent());

  auto quota = c(429, error_body(429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED"),
                 {{"retry-after", "42"}});
  BOOST_TEST((quota.result == verdict::transient));
  BOOST_TEST(!quota.permanent());
  BOOST_REQUIRE(quota.retry_after);
  BOOST_TEST(quota.retry_after->count() == 42);
  auto busy = c(503, error_body(503, "UNAVAILABLE", "UNAVAILABLE"), {{"retry-after", "soon"}});
  BOOST_TEST((busy.result == verdict::transient));
  BOOST_TEST(!busy.retry_after);
  BOOST_TEST((c(500, error_body(500, "INTERNAL", "INTERNAL")).result == verdict::transient));
  BOOST_TEST((fcm::classify(502, {}, "<html>Bad Gateway</html>").result == verdict::transient));
  BOOST_TEST((fcm::classify(200, {}, "<html>").result == verdict::transient));

  herald::http::client_response timed_out;
  timed_out.error = herald::http::transport_error::timeout;
  auto t = fcm::classify(timed_out);
  BOOST_TEST((t.result == verdict::transient));
  BOOST_TEST(t.detail.find("timeout") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
