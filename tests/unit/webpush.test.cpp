// adapters/push/webpush: RFC 8291 encryption (against the RFC's worked example), RFC 8292
// VAPID headers, subscriptions as browsers give them, and what a push service's answer
// means. The receiving side (decryption, VAPID checks) is tested against the fake push
// service in tests/integration/webpush_fake.test.cpp.

#include <boost/test/unit_test.hpp>

#include <nlohmann/json.hpp>

#include "adapters/push/webpush.hpp"
#include "runtime/auth/base64.hpp"
#include "runtime/config/settings.hpp"

namespace {

using namespace std::chrono_literals;
namespace webpush = herald::webpush;
using herald::auth::base64url_decode;
using herald::auth::base64url_encode;

// RFC 8291 Appendix A ("Intermediate Values for Encryption").
const std::string rfc_plaintext = "When I grow up, I want to be a watermelon";
const std::string rfc_as_private = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw";
const std::string rfc_as_public =
  "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8";
const std::string rfc_ua_public =
  "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
const std::string rfc_auth = "BTBZMqHH6r4Tts7J_aSIgg";
const std::string rfc_salt = "DGv6ra1nlYgDCS1FRnbzlw";
const std::string rfc_body =
  "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27ml"
  "mlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPT"
  "pK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN";

webpush::subscription rfc_subscription() {
  return {"https://push.example.net/push/JzLQ3raZJfFBR0aqvOMsLrt54w4rJUsV", rfc_ua_public,
          rfc_auth};
}

webpush::encryption_seams rfc_seams() {
  return {*base64url_decode(rfc_as_private), *base64url_decode(rfc_salt)};
}

const herald::net::outbound_policy strict{};

/// The JSON of one base64url JWT part.
nlohmann::json jwt_part(const std::string& token, int index) {
  std::size_t begin = 0;
  for (int i = 0; i < index; ++i) {
    begin = token.find('.', begin) + 1;
  }
  auto end = token.find('.', begin);
  return nlohmann::json::parse(*base64url_decode(token.substr(begin, end - begin)));
}

std::chrono::system_clock::time_point at(std::int64_t seconds) {
  return std::chrono::system_clock::time_point{std::chrono::seconds{seconds}};
}

} // namespace

BOOST_AUTO_TEST_SUITE(webpush_encryption)

BOOST_AUTO_TEST_CASE(rfc_8291_worked_example_is_reproduced_byte_for_byte) {
  auto out = webpush::encrypt(rfc_plaintext, rfc_subscription(), rfc_seams());
  BOOST_REQUIRE_MESSAGE(out.ok(), out.error);
  BOOST_CHECK_EQUAL(base64url_encode(out.body), rfc_body);
}

BOOST_AUTO_TEST_CASE(padded_subscription_keys_encrypt_the_same) {
  auto padded = rfc_subscription();
  padded.p256dh += "=";
  padded.auth += "==";
  auto out = webpush::encrypt(rfc_plaintext, padded, rfc_seams());
  BOOST_REQUIRE_MESSAGE(out.ok(), out.error);
  BOOST_CHECK_EQUAL(base64url_encode(out.body), rfc_body);
}

BOOST_AUTO_TEST_CASE(each_message_has_its_own_salt_and_sender_key) {
  auto a = webpush::encrypt(rfc_plaintext, rfc_subscription());
  auto b = webpush::encrypt(rfc_plaintext, rfc_subscription());
  BOOST_REQUIRE(a.ok() && b.ok());
  BOOST_CHECK(a.body.substr(0, 16) != b.body.substr(0, 16));  // salt
  BOOST_CHECK(a.body.substr(21, 65) != b.body.substr(21, 65)); // sender's public key
  // Header: rs = 4096 big-endian, idlen = 65, then an uncompressed point.
  BOOST_CHECK_EQUAL(a.body.substr(16, 5), std::string("\x00\x00\x10\x00\x41", 5));
  BOOST_CHECK_EQUAL(static_cast<int>(static_cast<unsigned char>(a.body[21])), 4);
  BOOST_CHECK_EQUAL(a.body.size(), 86 + rfc_plaintext.size() + 1 + 16);
}

BOOST_AUTO_TEST_CASE(plaintext_over_3993_bytes_is_an_error_value) {
  auto fits = webpush::encrypt(std::string(3993, 'x'), rfc_subscription());
  BOOST_REQUIRE_MESSAGE(fits.ok(), fits.error);
  BOOST_CHECK_EQUAL(fits.body.size(), 4096u);
  auto over = webpush::encrypt(std::string(3994, 'x'), rfc_subscription());
  BOOST_CHECK(!over.ok());
  BOOST_CHECK(over.body.empty());
  BOOST_CHECK_MESSAGE(over.error.find("3993") != std::string::npos, over.error);
}

BOOST_AUTO_TEST_CASE(keys_that_are_not_p256_are_an_error_value) {
  auto off_curve = rfc_subscription();
  auto point = *base64url_decode(off_curve.p256dh);
  point[64] = static_cast<char>(point[64] ^ 1);
  off_curve.p256dh = base64url_encode(point);
  auto out = webpush::encrypt(rfc_plaintext, off_curve);
  BOOST_CHECK(!out.ok());
  BOOST_CHECK_MESSAGE(out.error.find("p256dh") != std::string::npos, out.error);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(webpush_subscriptions)

BOOST_AUTO_TEST_CASE(a_browser_subscription_json_parses_and_passes_the_check) {
  for (auto expiration : {nlohmann::json(nullptr), nlohmann::json(1767225600000)}) {
    auto j = nlohmann::json{{"endpoint", rfc_subscription().endpoint},
                            {"expirationTime", expiration},
                            {"keys", {{"p256dh", rfc_ua_public}, {"auth", rfc_auth}}}};
    auto parsed = webpush::parse_subscription(j);
    BOOST_REQUIRE_MESSAGE(parsed.value, parsed.error);
    BOOST_CHECK_EQUAL(parsed.value->endpoint, rfc_subscription().endpoint);
    BOOST_CHECK_EQUAL(parsed.value->p256dh, rfc_ua_public);
    BOOST_CHECK_EQUAL(parsed.value->auth, rfc_auth);
    BOOST_CHECK_EQUAL(webpush::check_subscription(*parsed.value, strict), "");
  }
}

BOOST_AUTO_TEST_CASE(malformed_subscription_json_names_the_field) {
  auto good = nlohmann::json{{"endpoint", "https://push.example.net/x"},
                             {"keys", {{"p256dh", rfc_ua_public}, {"auth", rfc_auth}}}};
  auto with = [&](const std::string& pointer, nlohmann::json value) {
    auto j = good;
    j[nlohmann::json::json_pointer{pointer}] = std::move(value);
    return webpush::parse_subscription(j).error;
  };
  BOOST_CHECK(webpush::parse_subscription(good).value);
  BOOST_CHECK_NE(with("/endpoint", 5).find("endpoint"), std::string::npos);
  BOOST_CHECK_NE(with("/endpoint", std::string(2049, 'a')).find("2048"), std::string::npos);
  BOOST_CHECK_NE(with("/expirationTime", "soon").find("expirationTime"), std::string::npos);
  BOOST_CHECK_NE(with("/keys/auth", nullptr).find("keys.auth"), std::string::npos);
  BOOST_CHECK_NE(with("/keys/extra", "x").find("keys.extra"), std::string::npos);
  BOOST_CHECK_NE(with("/extra", 1).find("extra"), std::string::npos);
  BOOST_CHECK(!webpush::parse_subscription(nlohmann::json::array()).value);
}

BOOST_AUTO_TEST_CASE(check_names_what_is_wrong) {
  auto s = rfc_subscription();
  BOOST_CHECK_EQUAL(webpush::check_subscription(s, strict), "");

  auto padded = s;
  padded.p256dh += "=";
  padded.auth += "==";
  BOOST_CHECK_EQUAL(webpush::check_subscription(padded, strict), "");

  auto off_curve = s;
  auto point = *base64url_decode(s.p256dh);
  point[40] = static_cast<char>(point[40] ^ 0x10);
  off_curve.p256dh = base64url_encode(point);
  BOOST_CHECK_EQUAL(webpush::check_subscription(off_curve, strict),
                    "p256dh is not an uncompressed point on P-256");

  auto compressed = s;
  compressed.p256dh = base64url_encode(std::string{'\x02'} + point.substr(1, 32));
  BOOST_CHECK_NE(webpush::check_subscription(compressed, strict).find("65-byte"),
                 std::string::npos);

  auto short_auth = s;
  short_auth.auth = base64url_encode(std::string(15, 'a'));
  BOOST_CHECK_NE(webpush::check_subscription(short_auth, strict).find("auth"), std::string::npos);

  auto not_base64 = s;
  not_base64.auth = "BTBZMqHH6r4Tts7J+aSIgg";
  BOOST_CHECK_NE(webpush::check_subscription(not_base64, strict).find("auth"), std::string::npos);

  auto insecure = s;
  insecure.endpoint = "http://127.0.0.1:9999/push/1";
  BOOST_CHECK_NE(webpush::check_subscription(insecure, strict).find("endpoint"),
                 std::string::npos);
  BOOST_CHECK_EQUAL(webpush::check_subscription(insecure, {true}), "");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(webpush_vapid)

BOOST_AUTO_TEST_CASE(keys_parse_from_base64url_and_must_be_one_pair) {
  std::string error;
  auto keys = webpush::vapid_keys::parse(rfc_as_public, rfc_as_private, error);
  BOOST_REQUIRE_MESSAGE(keys, error);
  BOOST_CHECK_EQUAL(keys->public_key(), rfc_as_public);
  BOOST_CHECK_EQUAL(keys->private_key(), rfc_as_private);

  BOOST_CHECK(webpush::vapid_keys::parse(rfc_as_public + "=", rfc_as_private + "=", error));

  BOOST_CHECK(!webpush::vapid_keys::parse(rfc_ua_public, rfc_as_private, error));
  BOOST_CHECK_EQUAL(error,
                    "the VAPID public key is not the private key's: were they generated together?");
  BOOST_CHECK(!webpush::vapid_keys::parse(rfc_as_public, rfc_auth, error));
  BOOST_CHECK_NE(error.find("private key must be base64url of a 32-byte"), std::string::npos);
  BOOST_CHECK(!webpush::vapid_keys::parse(rfc_as_private, rfc_as_private, error));
  BOOST_CHECK_NE(error.find("public key must be base64url of a 65-byte"), std::string::npos);
  BOOST_CHECK(!webpush::vapid_keys::parse(rfc_as_public, base64url_encode(std::string(32, '\0')),
                                          error));
  BOOST_CHECK_NE(error.find("not a valid P-256 scalar"), std::string::npos);
}

BOOST_AUTO_TEST_CASE(generated_keys_round_trip) {
  auto a = webpush::vapid_keys::generate();
  auto b = webpush::vapid_keys::generate();
  BOOST_CHECK_NE(a.public_key(), b.public_key());
  BOOST_CHECK_EQUAL(a.public_key().size(), 87u);
  BOOST_CHECK_EQUAL(a.private_key().size(), 43u);
  std::string error;
  auto again = webpush::vapid_keys::parse(a.public_key(), a.private_key(), error);
  BOOST_REQUIRE_MESSAGE(again, error);
  BOOST_CHECK_EQUAL(again->public_key(), a.public_key());
}

BOOST_AUTO_TEST_CASE(origin_is_scheme_host_and_non_default_port) {
  BOOST_CHECK_EQUAL(*webpush::origin_of("https://fcm.googleapis.com/fcm/send/abc"),
                    "https://fcm.googleapis.com");
  BOOST_CHECK_EQUAL(*webpush::origin_of("https://Push.Example.NET:443/x?y=1"),
                    "https://push.example.net");
  BOOST_CHECK_EQUAL(*webpush::origin_of("https://push.example.net:8443/x"),
                    "https://push.example.net:8443");
  BOOST_CHECK_EQUAL(*webpush::origin_of("http://127.0.0.1:8080/push/1"), "http://127.0.0.1:8080");
  BOOST_CHECK_EQUAL(*webpush::origin_of("http://[::1]:80/push"), "http://[::1]");
  BOOST_CHECK(!webpush::origin_of("ftp://push.example.net/x"));
  BOOST_CHECK(!webpush::origin_of("not a url"));
}

BOOST_AUTO_TEST_CASE(header_carries_an_es256_jwt_for_the_endpoint_origin) {
  std::string error;
  auto keys = webpush::vapid_keys::parse(rfc_as_public, rfc_as_private, error);
  BOOST_REQUIRE(keys);
  auto now = at(1764460800);
  auto h = webpush::vapid_header("https://push.example.net:8443/push/abc", *keys,
                                 "mailto:ops@example.com", now, 3600s);
  BOOST_REQUIRE_MESSAGE(h.ok(), h.error);
  BOOST_REQUIRE_EQUAL(h.value.rfind("vapid t=", 0), 0u);
  auto comma = h.value.find(", k=");
  BOOST_REQUIRE_NE(comma, std::string::npos);
  BOOST_CHECK_EQUAL(h.value.substr(comma + 4), rfc_as_public);
  auto token = h.value.substr(8, comma - 8);

  BOOST_CHECK_EQUAL(jwt_part(token, 0), nlohmann::json::parse(R"({"typ":"JWT","alg":"ES256"})"));
  auto claims = jwt_part(token, 1);
  BOOST_CHECK_EQUAL(claims["aud"], "https://push.example.net:8443");
  BOOST_CHECK_EQUAL(claims["exp"], 1764460800 + 3600);
  BOOST_CHECK_EQUAL(claims["sub"], "mailto:ops@example.com");

  auto dot = token.rfind('.');
  auto signature = base64url_decode(token.substr(dot + 1));
  BOOST_REQUIRE(signature);
  BOOST_CHECK_EQUAL(signature->size(), 64u); // JOSE r || s, not DER
  auto public_key = webpush::crypto::public_key(*base64url_decode(rfc_as_public));
  BOOST_CHECK(webpush::crypto::es256_verify(public_key, token.substr(0, dot), *signature));
  BOOST_CHECK(!webpush::crypto::es256_verify(public_key, token.substr(0, dot) + "x", *signature));
}

BOOST_AUTO_TEST_CASE(header_refuses_a_long_lifetime_a_bad_subject_or_endpoint) {
  auto keys = webpush::vapid_keys::generate();
  auto now = at(1764460800);
  auto endpoint = "https://push.example.net/x";
  BOOST_CHECK(webpush::vapid_header(endpoint, keys, "mailto:a@b.c", now, 24h).ok());
  BOOST_CHECK(!webpush::vapid_header(endpoint, keys, "mailto:a@b.c", now, 24h + 1s).ok());
  BOOST_CHECK(!webpush::vapid_header(endpoint, keys, "mailto:a@b.c", now, 0s).ok());
  BOOST_CHECK(webpush::vapid_header(endpoint, keys, "https://example.com/contact", now).ok());
  auto bad = webpush::vapid_header(endpoint, keys, "ops@example.com", now);
  BOOST_CHECK_NE(bad.error.find("mailto:"), std::string::npos);
  BOOST_CHECK(!webpush::vapid_header(endpoint, keys, "mailto:", now).ok());
  BOOST_CHECK(!webpush::vapid_header(endpoint, keys, "mailto:a b@c", now).ok());
  BOOST_CHECK(!webpush::vapid_header("mailto:x@y", keys, "mailto:a@b.c", now).ok());
}

BOOST_AUTO_TEST_CASE(request_has_the_rfc_8030_headers_and_the_encrypted_body) {
  std::string error;
  auto keys = webpush::vapid_keys::parse(rfc_as_public, rfc_as_private, error);
  BOOST_REQUIRE(keys);
  auto r = webpush::build_request(rfc_subscription(), rfc_plaintext, *keys,
                                  "mailto:ops@example.com", 3600s, webpush::urgency::high,
                                  at(1764460800), rfc_seams());
  BOOST_REQUIRE_MESSAGE(r.value, r.error);
  BOOST_CHECK_EQUAL(r.value->url, rfc_subscription().endpoint);
  BOOST_CHECK_EQUAL(base64url_encode(r.value->body), rfc_body);
  std::map<std::string, std::string> headers{r.value->headers.begin(), r.value->headers.end()};
  BOOST_CHECK_EQUAL(headers["Content-Encoding"], "aes128gcm");
  BOOST_CHECK_EQUAL(headers["Content-Type"], "application/octet-stream");
  BOOST_CHECK_EQUAL(headers["TTL"], "3600");
  BOOST_CHECK_EQUAL(headers["Urgency"], "high");
  BOOST_CHECK_EQUAL(headers["Authorization"].rfind("vapid t=", 0), 0u);
  BOOST_CHECK_EQUAL(headers.size(), 5u);

  BOOST_CHECK_EQUAL(webpush::to_string(webpush::urgency::very_low), "very-low");
  for (auto u : {webpush::urgency::very_low, webpush::urgency::low, webpush::urgency::normal,
                 webpush::urgency::high}) {
    BOOST_CHECK(webpush::parse_urgency(webpush::to_string(u)) == u);
  }
  BOOST_CHECK(!webpush::parse_urgency("urgent"));
  BOOST_CHECK(!webpush::build_request(rfc_subscription(), rfc_plaintext, *keys, "mailto:a@b.c",
                                      -1s, webpush::urgency::low, at(0))
                 .value);
  auto too_big = webpush::build_request(rfc_subscription(), std::string(4000, 'x'), *keys,
                                        "mailto:a@b.c", 60s, webpush::urgency::low, at(0));
  BOOST_CHECK(!too_big.value);
  BOOST_CHECK_NE(too_big.error.find("3993"), std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(webpush_answers)

BOOST_AUTO_TEST_CASE(statuses_map_to_outcomes) {
  auto now = at(1764460800);
  using k = webpush::outcome_kind;
  BOOST_CHECK(webpush::classify(201, {}, "", now).kind == k::accepted);
  BOOST_CHECK(webpush::classify(202, {}, "", now).kind == k::accepted);
  BOOST_CHECK(webpush::classify(404, {}, "", now).kind == k::gone);
  BOOST_CHECK(webpush::classify(410, {}, "", now).kind == k::gone);
  for (int status : {400, 401, 403, 413}) {
    auto o = webpush::classify(status, {}, R"({"errno":109,"message":"why"})", now);
    BOOST_CHECK_MESSAGE(o.kind == k::permanent, status);
    BOOST_CHECK_NE(o.reason.find(std::to_string(status)), std::string::npos);
    BOOST_CHECK_NE(o.reason.find("why"), std::string::npos);
  }
  BOOST_CHECK_NE(webpush::classify(413, {}, "", now).reason.find("too large"), std::string::npos);
  for (int status : {500, 502, 503, 408}) {
    auto o = webpush::classify(status, {}, "", now);
    BOOST_CHECK_MESSAGE(o.kind == k::transient, status);
    BOOST_CHECK_MESSAGE(o.service_failure, status);
  }
  BOOST_CHECK(!webpush::classify(429, {}, "", now).service_failure);
  BOOST_CHECK(!webpush::classify(410, {}, "", now).service_failure);
}

BOOST_AUTO_TEST_CASE(too_many_requests_honours_retry_after_in_both_forms) {
  auto now = at(1764460800); // Sun, 30 Nov 2025 00:00:00 GMT
  auto seconds = webpush::classify(429, {{"retry-after", "120"}}, "", now);
  BOOST_CHECK(seconds.kind == webpush::outcome_kind::transient);
  BOOST_CHECK_EQUAL(seconds.retry_after.value_or(-1s).count(), 120);
  auto date = webpush::classify(429, {{"Retry-After", "Sun, 30 Nov 2025 00:01:30 GMT"}}, "", now);
  BOOST_CHECK(date.kind == webpush::outcome_kind::transient);
  BOOST_CHECK_EQUAL(date.retry_after.value_or(-1s).count(), 90);
  BOOST_CHECK_EQUAL(
    webpush::classify(503, {{"Retry-After", "7"}}, "", now).retry_after.value_or(-1s).count(), 7);
  BOOST_CHECK(!webpush::classify(429, {}, "", now).retry_after);
  BOOST_CHECK(!webpush::classify(429, {{"Retry-After", "soon"}}, "", now).retry_after);

  BOOST_CHECK_EQUAL(webpush::parse_retry_after("Sunday, 30-Nov-25 00:00:10 GMT", now)->count(), 10);
  BOOST_CHECK_EQUAL(webpush::parse_retry_after("Sun Nov 30 00:00:20 2025", now)->count(), 20);
  BOOST_CHECK_EQUAL(webpush::parse_retry_after("Sat, 29 Nov 2025 00:00:00 GMT", now)->count(), 0);
  BOOST_CHECK_EQUAL(webpush::parse_retry_after("99999999999999999999999", now)->count(), 86400);
  BOOST_CHECK(!webpush::parse_retry_after("-5", now));
  BOOST_CHECK(!webpush::parse_retry_after("", now));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(webpush_config)

herald::config::load_result load_with(std::map<std::string, std::string> env) {
  herald::config::sources in;
  in.environment = std::move(env);
  return herald::config::load(in);
}

BOOST_AUTO_TEST_CASE(vapid_settings_come_together_with_a_contact_subject) {
  auto ok = load_with({{"HERALD_VAPID_PUBLIC_KEY", rfc_as_public},
                       {"HERALD_VAPID_PRIVATE_KEY", rfc_as_private},
                       {"HERALD_VAPID_SUBJECT", "mailto:ops@example.com"}});
  BOOST_REQUIRE_MESSAGE(ok.value, ok.error);
  BOOST_CHECK_EQUAL(ok.value->get("push.vapid_public_key"), rfc_as_public);
  BOOST_CHECK(load_with({}).value); // no Web Push configured is fine

  auto half = load_with({{"HERALD_VAPID_PUBLIC_KEY", rfc_as_public},
                         {"HERALD_VAPID_SUBJECT", "mailto:ops@example.com"}});
  BOOST_CHECK(!half.value);
  BOOST_CHECK_NE(half.error.find("'push.vapid_private_key'"), std::string::npos);

  auto no_subject = load_with({{"HERALD_VAPID_PUBLIC_KEY", rfc_as_public},
                               {"HERALD_VAPID_PRIVATE_KEY", rfc_as_private}});
  BOOST_CHECK(!no_subject.value);
  BOOST_CHECK_NE(no_subject.error.find("'push.vapid_subject'"), std::string::npos);

  for (auto subject : {"ops@example.com", "mailto:", "http://example.com"}) {
    auto bad = load_with({{"HERALD_VAPID_PUBLIC_KEY", rfc_as_public},
                          {"HERALD_VAPID_PRIVATE_KEY", rfc_as_private},
                          {"HERALD_VAPID_SUBJECT", subject}});
    BOOST_CHECK_MESSAGE(!bad.value, subject);
    BOOST_CHECK_NE(bad.error.find("'push.vapid_subject' (env HERALD_VAPID_SUBJECT)"),
                   std::string::npos);
  }
}

BOOST_AUTO_TEST_SUITE_END()
