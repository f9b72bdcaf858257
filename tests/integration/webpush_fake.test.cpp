// Web Push end to end at the protocol level: requests built by adapters/push/webpush are
// sent over HTTP (libcurl) to the fake push service (tests/support/fake_webpush), which
// checks VAPID and decrypts with the subscription's own keys, as a browser's push service
// and user agent would. Needs no Herald node and no other server.

#include <boost/test/unit_test.hpp>

#include <curl/curl.h>

#include <chrono>
#include <string>

#include "adapters/push/webpush.hpp"
#include "runtime/auth/base64.hpp"
#include "support/fake_webpush.hpp"

namespace {

using namespace std::chrono_literals;
namespace webpush = herald::webpush;

struct curl_reply {
  long status = 0;
  webpush::header_list headers;
  std::string body;
};

std::size_t append_body(char* data, std::size_t size, std::size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

std::size_t append_header(char* data, std::size_t size, std::size_t n, void* out) {
  std::string line{data, size * n};
  auto colon = line.find(':');
  if (colon != std::string::npos) {
    auto value = line.substr(colon + 1);
    auto b = value.find_first_not_of(" \t");
    auto e = value.find_last_not_of(" \t\r\n");
    static_cast<webpush::header_list*>(out)->emplace_back(
      line.substr(0, colon), b == std::string::npos ? "" : value.substr(b, e - b + 1));
  }
  return size * n;
}

/// POSTs `r` as it is, bytes and headers.
curl_reply send(const webpush::request& r) {
  curl_reply out;
  CURL* curl = curl_easy_init();
  BOOST_REQUIRE(curl != nullptr);
  curl_slist* headers = nullptr;
  for (auto& [name, value] : r.headers) {
    headers = curl_slist_append(headers, (name + ": " + value).c_str());
  }
  headers = curl_slist_append(headers, "Expect:");
  curl_easy_setopt(curl, CURLOPT_URL, r.url.c_str());
  curl_easy_setopt(curl, CURLOPT_POST, 1L);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, r.body.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(r.body.size()));
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, append_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &out.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, append_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &out.headers);
  auto rc = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &out.status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  BOOST_REQUIRE_MESSAGE(rc == CURLE_OK, curl_easy_strerror(rc));
  return out;
}

const std::string subject = "mailto:ops@example.com";

/// The fake, one subscription of it (checked as Herald checks a registration), keys.
struct fixture {
  herald::test::fake_webpush service;
  webpush::vapid_keys keys = webpush::vapid_keys::generate();
  webpush::subscription sub;

  fixture() {
    auto parsed = webpush::parse_subscription(service.subscribe());
    BOOST_REQUIRE_MESSAGE(parsed.value, parsed.error);
    sub = *parsed.value;
    BOOST_REQUIRE_EQUAL(webpush::check_subscription(sub, {true}), "");
  }

  webpush::request build(const std::string& payload, webpush::urgency u = webpush::urgency::normal) {
    auto r = webpush::build_request(sub, payload, keys, subject, 3600s, u,
                                    std::chrono::system_clock::now());
    BOOST_REQUIRE_MESSAGE(r.value, r.error);
    return *r.value;
  }

  void set_header(webpush::request& r, const std::string& name, const std::string& value) {
    for (auto& [n, v] : r.headers) {
      if (n == name) {
        v = value;
      }
    }
  }

  /// The one refusal the fake recorded, checked to be `status` and mention `mentions`.
  void check_refused(const curl_reply& reply, int status, const std::string& mentions) {
    BOOST_CHECK_EQUAL(reply.status, status);
    auto refusals = service.refusals();
    BOOST_REQUIRE_EQUAL(refusals.size(), 1u);
    BOOST_CHECK_EQUAL(refusals[0].status, status);
    BOOST_CHECK_MESSAGE(refusals[0].reason.find(mentions) != std::string::npos,
                        "reason '" << refusals[0].reason << "' should mention '" << mentions << "'");
    BOOST_CHECK(service.received(sub.endpoint).empty());
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(webpush_fake, fixture)

BOOST_AUTO_TEST_CASE(a_request_built_by_the_adapter_is_accepted_and_decrypts_to_the_plaintext) {
  service.expect_key(keys.public_key());
  std::string payload = R"({"title":"Order A-1001","body":"shipped \u2713"})";
  auto reply = send(build(payload, webpush::urgency::high));
  BOOST_TEST_CONTEXT("answer: " << reply.body) {
    BOOST_CHECK_EQUAL(reply.status, 201);
  }
  BOOST_CHECK(webpush::classify(static_cast<int>(reply.status), reply.headers, reply.body,
                                std::chrono::system_clock::now())
                .kind
              == webpush::outcome_kind::accepted);
  auto got = service.received(sub.endpoint);
  BOOST_REQUIRE_EQUAL(got.size(), 1u);
  BOOST_CHECK_EQUAL(got[0].plaintext, payload);
  BOOST_CHECK_EQUAL(got[0].ttl, "3600");
  BOOST_CHECK_EQUAL(got[0].urgency, "high");
  BOOST_CHECK_EQUAL(got[0].vapid_key, keys.public_key());
  BOOST_CHECK_EQUAL(got[0].claims["sub"], subject);
  BOOST_CHECK(service.refusals().empty());
}

BOOST_AUTO_TEST_CASE(the_largest_payload_and_an_empty_one_decrypt) {
  std::string largest(webpush::max_plaintext, 'x');
  largest.front() = '\0'; // a payload may hold any byte, zeros included
  BOOST_CHECK_EQUAL(send(build(largest)).status, 201);
  BOOST_CHECK_EQUAL(send(build("")).status, 201);
  auto got = service.received(sub.endpoint);
  BOOST_REQUIRE_EQUAL(got.size(), 2u);
  BOOST_CHECK(got[0].plaintext == largest);
  BOOST_CHECK_EQUAL(got[1].plaintext, "");
}

BOOST_AUTO_TEST_CASE(a_browser_subscription_json_parses_and_passes_the_check) {
  // Exactly what PushSubscription.toJSON() gives, pointed at the fake.
  auto fake = service.subscribe();
  auto text = R"({"endpoint":")" + fake["endpoint"].get<std::string>()
              + R"(","expirationTime":null,"keys":{"p256dh":")"
              + fake["keys"]["p256dh"].get<std::string>() + R"(","auth":")"
              + fake["keys"]["auth"].get<std::string>() + R"("}})";
  auto parsed = webpush::parse_subscription(nlohmann::json::parse(text));
  BOOST_REQUIRE_MESSAGE(parsed.value, parsed.error);
  BOOST_CHECK_EQUAL(webpush::check_subscription(*parsed.value, {true}), "");
  sub = *parsed.value;
  BOOST_CHECK_EQUAL(send(build("hello")).status, 201);
  BOOST_REQUIRE_EQUAL(service.received(sub.endpoint).size(), 1u);
  BOOST_CHECK_EQUAL(service.received(sub.endpoint)[0].plaintext, "hello");
}

BOOST_AUTO_TEST_CASE(another_application_server_key_is_refused) {
  service.expect_key(webpush::vapid_keys::generate().public_key());
  check_refused(send(build("hello")), 403, "restricted");
}

BOOST_AUTO_TEST_CASE(a_token_not_signed_by_k_is_refused) {
  auto r = build("hello");
  auto other = webpush::vapid_keys::generate();
  auto forged = webpush::vapid_header(sub.endpoint, other, subject, std::chrono::system_clock::now());
  BOOST_REQUIRE(forged.ok());
  // Other's signature, presented with our key.
  set_header(r, "Authorization",
             forged.value.substr(0, forged.value.find(", k=")) + ", k=" + keys.public_key());
  check_refused(send(r), 401, "signature");
}

BOOST_AUTO_TEST_CASE(a_token_for_another_origin_is_refused) {
  auto r = build("hello");
  auto elsewhere = webpush::vapid_header("https://push.example.net/push/x", keys, subject,
                                         std::chrono::system_clock::now());
  BOOST_REQUIRE(elsewhere.ok());
  set_header(r, "Authorization", elsewhere.value);
  check_refused(send(r), 401, "aud must be " + service.origin());
}

BOOST_AUTO_TEST_CASE(an_expired_token_is_refused) {
  auto r = build("hello");
  auto old = webpush::vapid_header(sub.endpoint, keys, subject,
                                   std::chrono::system_clock::now() - 2h, 1h);
  BOOST_REQUIRE(old.ok());
  set_header(r, "Authorization", old.value);
  check_refused(send(r), 401, "expired");
}

BOOST_AUTO_TEST_CASE(a_tampered_ciphertext_is_refused) {
  auto r = build("hello");
  r.body[r.body.size() - 20] = static_cast<char>(r.body[r.body.size() - 20] ^ 0x01);
  check_refused(send(r), 400, "does not decrypt");
}

BOOST_AUTO_TEST_CASE(a_body_without_content_encoding_is_refused) {
  auto r = build("hello");
  set_header(r, "Content-Encoding", "aesgcm");
  check_refused(send(r), 400, "Content-Encoding");
}

BOOST_AUTO_TEST_CASE(chosen_answers_classify_as_gone_transient_and_permanent) {
  auto classify = [](const curl_reply& reply) {
    return webpush::classify(static_cast<int>(reply.status), reply.headers, reply.body,
                             std::chrono::system_clock::now());
  };
  service.answer(sub.endpoint, 410);
  auto gone = classify(send(build("a")));
  BOOST_CHECK(gone.kind == webpush::outcome_kind::gone);
  BOOST_CHECK_NE(gone.reason.find("410"), std::string::npos);

  service.answer(sub.endpoint, 429, "30");
  auto limited = classify(send(build("b")));
  BOOST_CHECK(limited.kind == webpush::outcome_kind::transient);
  BOOST_CHECK_EQUAL(limited.retry_after.value_or(-1s).count(), 30);
  BOOST_CHECK(!limited.service_failure);

  service.answer(sub.endpoint, 500);
  auto failed = classify(send(build("c")));
  BOOST_CHECK(failed.kind == webpush::outcome_kind::transient);
  BOOST_CHECK(failed.service_failure);

  service.answer(sub.endpoint, 404);
  BOOST_CHECK(classify(send(build("d"))).kind == webpush::outcome_kind::gone);

  // The checks come before the chosen answer: another key is still a 403, permanent.
  service.expect_key(webpush::vapid_keys::generate().public_key());
  BOOST_CHECK(classify(send(build("e"))).kind == webpush::outcome_kind::permanent);

  BOOST_CHECK_EQUAL(service.attempts(sub.endpoint), 4u);
  BOOST_CHECK(service.received(sub.endpoint).empty());
}

BOOST_AUTO_TEST_SUITE_END()
