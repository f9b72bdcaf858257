#pragma once

// Web Push, the application server's side: one push message to one browser subscription.
//
//   RFC 8030  delivery: POST the encrypted body to the subscription's endpoint with TTL and
//             Urgency headers; 201 means the push service took it.
//   RFC 8291  payload encryption, "aes128gcm" (RFC 8188) in one record: a fresh P-256 key
//             pair and 16-byte salt per message; ECDH with the subscription's p256dh key,
//             HKDF-SHA256 keyed with its auth secret, AES-128-GCM. The body is
//             salt(16) | rs(4) = 4096 | idlen(1) = 65 | the sender's public key(65) |
//             the record (plaintext, 0x02, GCM tag); at most 4096 bytes, so at most 3993
//             bytes of plaintext.
//   RFC 8292  VAPID: `Authorization: vapid t=<JWT>, k=<public key>`, the JWT signed ES256
//             with the application server's key, aud = the endpoint's origin, exp at most
//             24 h ahead, sub = a mailto: or https: contact.
//
// Pure functions on values, safe on any thread; no I/O (the caller sends the request and
// hands the answer to `classify`). They never throw for bad input: every problem comes
// back as a value naming it. CPU cost: build_request makes a key pair, an ECDH and an
// ES256 signature per message, ≈ 0.8 ms with a 1 KB payload, and check_subscription
// ≈ 0.2 ms (measured on the shared 2-core machine at load 8): call them from the push
// sender's worker actors, not in a loop on CAF's scheduler threads.
//
// Keys travel as base64url (RFC 4648 §5); padded and unpadded spellings are both read,
// everything written is unpadded.

#include <nlohmann/json.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "adapters/net/outbound.hpp"
#include "adapters/push/webpush_crypto.hpp"

namespace herald::webpush {

/// Record size written in the header; the body never exceeds it.
inline constexpr std::size_t record_size = 4096;
/// Largest plaintext one 4096-byte body carries: 4096 - 86 (header) - 1 (delimiter) - 16 (tag).
inline constexpr std::size_t max_plaintext = 3993;
/// A VAPID JWT expires at most this far ahead (RFC 8292 §2).
inline constexpr std::chrono::seconds max_jwt_lifetime{24 * 3600};
/// A VAPID JWT's lifetime when the caller does not choose one.
inline constexpr std::chrono::seconds default_jwt_lifetime{12 * 3600};
/// Longest TTL header Herald sends (28 days, what the large push services keep at most).
inline constexpr std::chrono::seconds max_ttl{28 * 24 * 3600};
/// Longest endpoint accepted (the users service's limit too).
inline constexpr std::size_t max_endpoint_length = 2048;
/// Longest VAPID subject accepted.
inline constexpr std::size_t max_subject_length = 512;

using header_list = std::vector<std::pair<std::string, std::string>>;

// -- VAPID keys -----------------------------------------------------------------------

/// The application server's P-256 key pair (push.vapid_public_key, push.vapid_private_key).
/// Cheap to copy: copies share one immutable key.
class vapid_keys {
public:
  /// The pair from its base64url forms as `web-push generate-vapid-keys` prints them: the
  /// 65-byte uncompressed public point and the 32-byte private scalar. nullopt, with
  /// `error` saying which key is wrong and how, when either is malformed, not on P-256,
  /// or the public key is not the private key's.
  static std::optional<vapid_keys> parse(std::string_view public_key,
                                         std::string_view private_key, std::string& error);
  /// A fresh pair (`herald vapid-keys`).
  static vapid_keys generate();

  const std::string& public_key() const { return public_b64_; } ///< base64url, 87 chars
  std::string private_key() const; ///< base64url, 43 chars: a secret
  const crypto::p256_key& key() const { return key_; }

private:
  explicit vapid_keys(crypto::p256_key key);
  crypto::p256_key key_;
  std::string public_b64_;
};

/// "" when `subject` is a usable VAPID `sub` (mailto:someone@host or an https:// URL, at
/// most 512 characters, no spaces or control characters), else why not.
std::string check_subject(std::string_view subject);

// -- subscriptions --------------------------------------------------------------------

/// A browser's push subscription: where to POST and the keys to encrypt for.
struct subscription {
  std::string endpoint;
  std::string p256dh; ///< base64url of the 65-byte uncompressed P-256 point
  std::string auth;   ///< base64url of the 16-byte auth secret
};

/// "" when `s` can be sent to: its endpoint passes `policy` (adapters/net/outbound.hpp)
/// and is at most 2048 characters; p256dh is base64url of a point on P-256 (65 bytes,
/// uncompressed); auth is base64url of 16 bytes. Else the problem, naming the field
/// ("p256dh is not a point on P-256").
std::string check_subscription(const subscription& s, const net::outbound_policy& policy);

struct subscription_result {
  std::optional<subscription> value;
  std::string error; ///< set when refused, naming the field
};

/// A subscription as a browser's PushSubscription.toJSON() gives it:
/// {"endpoint", "expirationTime": null or a number, "keys": {"p256dh", "auth"}}. Unknown
/// members are refused; the result is not yet checked (see check_subscription).
subscription_result parse_subscription(const nlohmann::json& j);

// -- encryption (RFC 8291) ------------------------------------------------------------

/// What `encrypt` draws at random, fixed by tests (RFC 8291's worked example); empty
/// members are drawn fresh.
struct encryption_seams {
  std::string sender_private_key; ///< 32-byte scalar of the sender's ephemeral key pair
  std::string salt;               ///< 16 bytes
};

struct encrypt_result {
  std::string body;  ///< the aes128gcm body
  std::string error; ///< set when it could not be made (bad keys, payload too large)
  bool ok() const { return error.empty(); }
};

/// `plaintext` encrypted for `to` (its keys; the endpoint is not looked at). Plaintext
/// over max_plaintext bytes, or keys that check_subscription would refuse, are an error.
encrypt_result encrypt(std::string_view plaintext, const subscription& to,
                       const encryption_seams& seams = {});

// -- VAPID (RFC 8292) -----------------------------------------------------------------

/// The origin of an http(s) URL as VAPID's `aud` wants it: scheme://host[:port], the port
/// only when not the scheme's default, the host in lower case; nullopt when `url` is not
/// an http or https URL with a host.
std::optional<std::string> origin_of(std::string_view url);

struct header_result {
  std::string value; ///< `vapid t=<JWT>, k=<public key>`
  std::string error;
  bool ok() const { return error.empty(); }
};

/// The Authorization header for a request to `endpoint`: a JWT {"typ":"JWT","alg":"ES256"}
/// with claims {aud: origin_of(endpoint), exp: now + lifetime, sub: subject}. An error
/// when the endpoint has no origin, the subject fails check_subject, or the lifetime is
/// not in 1 s .. 24 h.
header_result vapid_header(std::string_view endpoint, const vapid_keys& keys,
                           std::string_view subject, std::chrono::system_clock::time_point now,
                           std::chrono::seconds lifetime = default_jwt_lifetime);

// -- the request (RFC 8030) -----------------------------------------------------------

/// RFC 8030 §5.3: how soon the user agent should wake for the message.
enum class urgency { very_low, low, normal, high };

/// "very-low", "low", "normal", "high".
std::string_view to_string(urgency u);

/// The urgency `to_string` spells as `text`; nullopt for anything else.
std::optional<urgency> parse_urgency(std::string_view text);

struct request {
  std::string url; ///< the endpoint
  header_list headers; ///< Content-Encoding, Content-Type, TTL, Urgency, Authorization
  std::string body;
};

struct request_result {
  std::optional<request> value;
  std::string error; ///< why no request could be built (names the part)
};

/// The POST that delivers `payload` to `to`: its body encrypted (encrypt), TTL
/// `ttl` (0 .. 28 days: how long the push service keeps it for an offline device),
/// Urgency `u`, and the VAPID Authorization for the endpoint's origin (vapid_header with
/// the default lifetime). The subscription's endpoint is used as given: check it with
/// check_subscription (and resolve it) before sending.
request_result build_request(const subscription& to, std::string_view payload,
                             const vapid_keys& keys, std::string_view subject,
                             std::chrono::seconds ttl, urgency u,
                             std::chrono::system_clock::time_point now,
                             const encryption_seams& seams = {});

// -- the answer -----------------------------------------------------------------------

enum class outcome_kind {
  accepted,  ///< 2xx (201 Created): the push service has the message
  gone,      ///< 404, 410: the subscription expired or was removed; remove the device
  transient, ///< 429, 5xx, 408 and anything unexpected: try again later
  permanent, ///< 400, 401, 403, 413 and other 4xx: this message will never be taken
};

struct outcome {
  outcome_kind kind = outcome_kind::transient;
  /// From Retry-After (delay-seconds or an HTTP-date), 0 .. 24 h; nullopt when absent or
  /// unreadable. Read on any status that carries it (429, 503).
  std::optional<std::chrono::seconds> retry_after;
  /// Transient because the push service failed (5xx, 408), as a circuit breaker counts
  /// failures; false for a 429 (the service answering, only asking to slow down).
  bool service_failure = false;
  std::string reason; ///< for the notification's timeline: the status and what it means
};

/// What the push service's answer means for this device and this message. `headers` in
/// any case; `body` is quoted (an excerpt) in the reason; `now` turns an HTTP-date
/// Retry-After into a delay.
outcome classify(int status, const header_list& headers, std::string_view body,
                 std::chrono::system_clock::time_point now);

/// The delay a Retry-After value asks for: delay-seconds or an HTTP-date (IMF-fixdate,
/// RFC 850 or asctime form) relative to `now`, at least 0, at most 24 h; nullopt when
/// unreadable.
std::optional<std::chrono::seconds> parse_retry_after(std::string_view value,
                                                      std::chrono::system_clock::time_point now);

} // namespace herald::webpush
