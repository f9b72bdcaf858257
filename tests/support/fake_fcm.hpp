#pragma once

// A fake FCM for tests that speaks the real protocol and checks it strictly: the OAuth2
// token endpoint of a Google service account, and FCM HTTP v1's messages:send.
//
// Token endpoint (POST /token): the body must be form-encoded with grant_type
// urn:ietf:params:oauth:grant-type:jwt-bearer and an assertion that is an RS256 JWT whose
// signature verifies with the service account's public key (header kid = its
// private_key_id), with iss = client_email, aud = the token_uri, scope = firebase.messaging,
// iat not in the future and exp after now and at most one hour after iat. Otherwise 400
// {"error": "invalid_grant", ...}. Issues random access tokens with a chosen lifetime.
//
// messages:send (POST /v1/projects/{project}/messages:send): the project must be the
// account's; `Authorization: Bearer` must carry a token this fake issued, not expired and
// not revoked, else 401 in Google's error shape. The body must be JSON
// {"message": {...}} with message.token a non-empty string, no unknown member in message,
// notification title/body/image strings, data an object of string values, android.priority
// normal|high, apns.headers strings, webpush.fcm_options.link https://; a violation is a
// 400 INVALID_ARGUMENT naming the field (and recorded in problems()). A valid message is
// recorded and answered with the outcome chosen for its device token (default ok).
//
// It is built on Boost.Beast directly, not on Herald's http::server, because that server
// refuses any body that is not application/json (415), and the token grant is a form.
// Plain HTTP, or HTTPS with a given certificate (HTTP/1.1). One I/O thread; it counts the
// TCP connections it accepted (keep-alive checks) and can go down (listener and
// connections closed: connection refused) and come up again on the same port. Its clock can be moved forward (advance) to expire tokens without waiting.

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/rs256.hpp"

namespace herald::test {


class fake_fcm {
public:
  /// What messages:send answers for a device token.
  enum class answer {
    ok,               ///< 200 {"name": "projects/p/messages/<n>"}
    unregistered,     ///< 404 NOT_FOUND, FcmError UNREGISTERED
    invalid_argument, ///< 400 INVALID_ARGUMENT, a field violation of message.token
    quota_exceeded,   ///< 429 RESOURCE_EXHAUSTED QUOTA_EXCEEDED, Retry-After
    unavailable,      ///< 503 UNAVAILABLE, Retry-After
    silent,           ///< recorded, never answered: the connection stays open (timeouts)
  };

  /// One message that passed the checks.
  struct received {
    std::string device_token;
    nlohmann::json message; ///< the "message" member as sent
    answer given = answer::ok;
  };

  /// Certificate and key (PEM files) to serve HTTPS with (HTTP/1.1 only: no ALPN h2).
  struct tls_files {
    std::string certificate_pem;
    std::string private_key_pem;
  };

  /// Listens on 127.0.0.1 (a free port) for the account of `project_id`; over TLS when
  /// `tls` names a certificate.
  explicit fake_fcm(std::string project_id = "herald-test", tls_files tls = {});
  ~fake_fcm();
  fake_fcm(const fake_fcm&) = delete;
  fake_fcm& operator=(const fake_fcm&) = delete;

  std::string endpoint() const;  ///< http://127.0.0.1:<port> (https:// with TLS)
  std::string token_uri() const; ///< endpoint() + "/token"
  const std::string& project_id() const;

  /// Writes a service-account JSON file into `dir` for this fake's account (token_uri
  /// pointing here) and returns its path. With `key`: signed by another key than the one
  /// the fake verifies with (a file the real Google would refuse).
  std::string write_credentials(const std::string& dir) const;
  std::string write_credentials(const std::string& dir, const rsa_key_pair& key) const;

  void set_token_lifetime(std::chrono::seconds lifetime);
  void set_answer(const std::string& device_token, answer a,
                  std::chrono::seconds retry_after = std::chrono::seconds{0});
  /// Every token issued so far is refused from now on (401).
  void revoke_tokens();
  /// Every token, also those issued later, is refused (401).
  void refuse_all_tokens(bool refuse);
  /// Moves the fake's clock for access-token expiry forward (assertions are still judged
  /// by the real time, as the sender signs them with it).
  void advance(std::chrono::seconds by);

  /// Closes the listener and every connection: calls are refused until come_up().
  void go_down();
  void come_up();

  std::size_t token_requests() const;     ///< token requests received, good or bad
  std::size_t tokens_issued() const;
  std::size_t unauthorized() const;       ///< 401s answered by messages:send
  std::size_t connections_accepted() const;
  std::vector<received> messages() const; ///< valid messages, in arrival order
  std::vector<std::string> problems() const; ///< every check that failed, in words

private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

} // namespace herald::test
