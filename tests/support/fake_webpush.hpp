#pragma once

// A fake Web Push service (the push service's side of RFC 8030) that checks what it is
// sent the way a real one does, on Herald's own HTTP server (127.0.0.1, a free port).
//
// subscribe() makes a subscription as a browser would: a fresh P-256 key pair and 16-byte
// auth secret, endpoint http://127.0.0.1:<port>/push/<id>. Each POST to an endpoint is
// checked, in this order, and refused with the first problem (JSON body {"code",
// "message"}; the reason is also kept, see refusals()):
//   404  no such subscription
//   401  Authorization is not `vapid t=<JWT>, k=<key>`; k is not base64url of a P-256
//        point; the JWT is not three base64url parts with header alg ES256; its ES256
//        signature (r || s) does not verify with k; aud is not this service's origin; exp
//        is missing, past, or more than 24 h ahead; sub is missing or not mailto:/https:
//   403  k is not the key the subscription was restricted to (expect_key)
//   400  Content-Encoding is not aes128gcm; TTL is missing or not a non-negative integer;
//        the body does not decrypt (RFC 8291 with the subscription's private key and auth
//        secret: header, key id, tag, padding and the last-record delimiter all checked)
//   413  the body is over 4096 bytes
// A request that passes every check is recorded (plaintext, TTL, Urgency, k, claims) and
// answered with the status chosen for its subscription: 201 Created (with Location) by
// default, or 404, 410, 429 (with Retry-After), 500, ... (answer()).
//
// The decryption is the fake's own, written from RFC 8291 / RFC 8188 on the shared
// primitives of adapters/push/webpush_crypto.hpp; it never calls the sender's encrypt.
// Thread-safe: handlers run on the server's threads, tests read from theirs.

#include <nlohmann/json.hpp>

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "adapters/http/server.hpp"
#include "adapters/push/webpush.hpp"

namespace herald::test {

/// One push message the fake accepted.
struct received_push {
  std::string plaintext;
  std::string ttl;        ///< the TTL header as sent
  std::string urgency;    ///< the Urgency header ("" when absent)
  std::string vapid_key;  ///< k
  nlohmann::json claims;  ///< the JWT's claims
};

/// One request the fake refused because a check failed.
struct push_refusal {
  std::string endpoint;
  int status = 0;
  std::string reason;
};

class fake_webpush {
public:
  /// Listens on 127.0.0.1 at a free port; throws when it cannot.
  fake_webpush();
  ~fake_webpush();
  fake_webpush(const fake_webpush&) = delete;
  fake_webpush& operator=(const fake_webpush&) = delete;

  /// http://127.0.0.1:<port>: the `aud` every VAPID token must name.
  std::string origin() const;

  /// A new subscription as PushSubscription.toJSON() gives it: {"endpoint",
  /// "expirationTime": null, "keys": {"p256dh", "auth"}} (keys base64url, unpadded).
  nlohmann::json subscribe();

  /// From now on, requests to `endpoint` that pass the checks are answered `status`
  /// (201: accepted and recorded; anything else: not recorded), with Retry-After:
  /// `retry_after` when it is not empty, and `body` (any bytes, text/plain) instead of
  /// the JSON one when it is not empty.
  void answer(const std::string& endpoint, int status, const std::string& retry_after = {},
              const std::string& body = {});

  /// Restricts every subscription to application server key `public_key` (base64url):
  /// any other k is a 403. Empty: any key.
  void expect_key(const std::string& public_key);

  /// The messages accepted for `endpoint`, oldest first.
  std::vector<received_push> received(const std::string& endpoint) const;
  /// Every refusal of a failed check, oldest first.
  std::vector<push_refusal> refusals() const;
  /// POSTs to `endpoint` that passed every check, whatever they were answered.
  std::size_t attempts(const std::string& endpoint) const;

private:
  struct subscriber;
  http::response handle(const http::request& req);
  std::string check_vapid(const std::string& authorization, received_push& out) const;

  mutable std::mutex mtx_;
  std::map<std::string, std::shared_ptr<subscriber>> subscribers_; ///< by id
  std::string expected_key_;
  std::vector<push_refusal> refusals_;
  int port_ = 0;
  std::unique_ptr<http::server> server_; ///< last: closed first
};

} // namespace herald::test
