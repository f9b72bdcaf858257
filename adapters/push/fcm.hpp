#pragma once

// Firebase Cloud Messaging, HTTP v1 API: the protocol as pure functions and values. Nothing
// here does I/O except load_service_account (reads a file); the caller sends the requests
// built here with http::client (adapters/http/client.hpp) from its own thread and hands
// the answers back to be read. A sender's loop, per message:
//
//   1. token = cache.current(now); none: send token_request(account, assertion(account,
//      wall_now)) and cache.store(read_token_response(answer), now);
//   2. send send_request(endpoint, account.project_id, token, build_message(...));
//   3. classify(answer): verdict::token_rejected (401) → cache.invalidate(token), fetch a
//      new one and send once more; a second 401 is a failure (transient), not a loop.
//
// OAuth2 (RFC 7523 JWT bearer grant, as Google's service accounts use it): the assertion
// is a JWT signed RS256 with the account's private key — header {alg RS256, typ JWT, kid =
// private_key_id}, claims iss = client_email, scope = firebase.messaging, aud = token_uri,
// iat = now, exp = now + 1 h — posted form-encoded to the account's token_uri.
//
// Outcomes (classify), after Google's error shape {"error": {"code", "message", "status",
// "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
// "errorCode"}, {"@type": "...google.rpc.BadRequest", "fieldViolations": [{"field"}]}]}}:
//   200                                    accepted (the message's name)
//   404 UNREGISTERED; 400 INVALID_ARGUMENT about message.token
//                                          device_gone: permanent, remove the device
//   400 otherwise (and 401 THIRD_PARTY_AUTH_ERROR)
//                                          message_rejected: permanent for this message
//   401                                    token_rejected: refresh the access token once
//   403 SENDER_ID_MISMATCH                 wrong_sender: permanent for this device, which
//                                          is kept (a wrong credentials file would
//                                          otherwise wipe every device)
//   429, 5xx, other 4xx, no answer         transient (429/503 with Retry-After seconds)

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "adapters/http/client.hpp"

namespace herald::push::fcm {

/// The scope an access token for sending needs.
inline constexpr std::string_view messaging_scope =
  "https://www.googleapis.com/auth/firebase.messaging";
/// RFC 7523's grant type.
inline constexpr std::string_view jwt_bearer_grant =
  "urn:ietf:params:oauth:grant-type:jwt-bearer";
inline constexpr std::string_view default_endpoint = "https://fcm.googleapis.com";
/// How long an assertion is valid (Google accepts at most one hour).
inline constexpr std::chrono::seconds assertion_lifetime{3600};
/// The reason an FCM device ends failed when push.fcm_credentials is empty.
inline constexpr std::string_view not_configured =
  "FCM is not configured (push.fcm_credentials / HERALD_FCM_CREDENTIALS is empty)";

// -- credentials ---------------------------------------------------------------

/// The fields of a Google service-account JSON file that sending needs.
struct service_account {
  std::string project_id;
  std::string private_key_id;
  std::string private_key; ///< PEM, an RSA private key
  std::string client_email;
  std::string token_uri;   ///< http:// or https://
};

struct account_result {
  std::optional<service_account> account;
  std::string error; ///< names the file's missing or bad field
};

/// Reads a service-account file's text: `type` must be "service_account", the fields above
/// non-empty strings, `private_key` a PEM RSA private key, `token_uri` an http(s) URL.
account_result parse_service_account(std::string_view json_text);

/// The same from a file (blocking read; meant for start-up). The error names the path.
account_result load_service_account(const std::string& path);

struct assertion_result {
  std::string jwt;
  std::string error; ///< "" when signed
};

/// The signed JWT assertion at wall-clock time `now` (see above).
assertion_result assertion(const service_account& account,
                           std::chrono::system_clock::time_point now);

/// POST token_uri, form-encoded grant_type + assertion.
http::client_request token_request(const service_account& account, const std::string& jwt);

struct access_token {
  std::string value;
  std::chrono::seconds expires_in{0};
};

struct token_result {
  std::optional<access_token> token;
  std::string error; ///< what went wrong: the endpoint's words, or the transport's
  /// The endpoint refused the credentials themselves (400/401, e.g. invalid_grant): no
  /// retry will help until the file changes. False for transport errors and 5xx.
  bool credentials_rejected = false;
};

/// Reads the token endpoint's answer {access_token, expires_in, token_type: Bearer}.
token_result read_token_response(const http::client_response& answer);

// -- the access token cache ----------------------------------------------------

/// The current access token and when to fetch the next. Pure (time is an argument) and
/// NOT thread-safe: one per sending thread (each worker fetches its own token: a pool of
/// N workers makes N token requests an hour), or guarded by the one that shares it.
class token_cache {
public:
  using time_point = std::chrono::steady_clock::time_point;

  /// A token is refreshed `margin` before it expires, or a third of its lifetime before
  /// when that is shorter (short-lived test tokens).
  explicit token_cache(std::chrono::seconds margin = std::chrono::minutes{5});

  /// The token to send with at `now`; nullopt when one must be fetched first (none yet,
  /// within the refresh margin of its expiry, or invalidated).
  std::optional<std::string> current(time_point now) const;
  /// A token fetched at `fetched_at` (take the time before sending the request).
  void store(const access_token& token, time_point fetched_at);
  /// FCM answered 401 to `token`: forget it if it is still the current one, so the next
  /// current() asks for a new fetch. A token stored since is kept.
  void invalidate(const std::string& token);

private:
  std::chrono::seconds margin_;
  std::string token_;
  time_point refresh_at_{};
};

// -- messages ------------------------------------------------------------------

/// FCM's priority of a message. Herald's 1..10 maps to it in one place, the push_sender's
/// push_options_for (actors/push_sender/push_batch.hpp: 8 and above high).
enum class priority { normal, high };

/// What a push notification says (the rendered push template).
struct content {
  std::string title;
  std::string body;
  std::string image; ///< optional URL: notification.image
  /// Optional https:// URL opened on a click: webpush.fcm_options.link, and data["link"]
  /// for apps (Android and iOS have no link field) unless `data` has one already.
  std::string link;
  std::map<std::string, std::string> data; ///< FCM's data: string values only
  priority prio = priority::normal;
  /// Optional Android intent action on a click (android.notification.click_action).
  std::string click_action;
};

/// A template's data object (JSON) as FCM data: strings kept, other values as their JSON
/// text (FCM refuses non-string values). Not an object: an empty map.
std::map<std::string, std::string> string_data(const nlohmann::json& data);

struct message_result {
  std::string json; ///< the request body {"message": {...}}
  std::string error; ///< "" when built; else why this content cannot be sent (permanent)
};

/// The v1 request body for one device: message.token, notification {title, body,
/// image?}, data (when any), android {priority, notification {click_action}?}, apns
/// {headers {apns-priority 10|5}}, webpush {fcm_options {link}} (when a link). An empty
/// token, or a link that is not https://, is an error.
message_result build_message(const std::string& device_token, const content& c);

/// "{endpoint}/v1/projects/{project_id}/messages:send" (a trailing '/' of endpoint dropped).
std::string send_url(std::string_view endpoint, std::string_view project_id);

/// POST send_url with `Authorization: Bearer <access_token>` and the message JSON.
http::client_request send_request(std::string_view endpoint, std::string_view project_id,
                                  const std::string& access_token,
                                  const std::string& message_json);

// -- outcomes ------------------------------------------------------------------

enum class verdict {
  accepted,         ///< FCM took the message
  device_gone,      ///< the token is unregistered or invalid: remove the device
  message_rejected, ///< this message can never be sent as it is (permanent)
  token_rejected,   ///< 401: fetch a new access token and send once more
  wrong_sender,     ///< the device belongs to another sender (permanent, device kept)
  transient,        ///< try again later (Retry-After when given)
};

const char* to_string(verdict v);

struct send_outcome {
  verdict result = verdict::transient;
  std::string message_name; ///< accepted: "projects/p/messages/<id>"
  std::string detail;       ///< otherwise: status, FCM's error code and message
  std::optional<std::chrono::seconds> retry_after; ///< from a delta-seconds Retry-After
  bool permanent() const {
    return result == verdict::device_gone || result == verdict::message_rejected
           || result == verdict::wrong_sender;
  }
};

/// Reads FCM's answer (see the table above). `headers` as http::client_response has them
/// (names lower-cased).
send_outcome classify(int status, const std::map<std::string, std::string>& headers,
                      const std::string& body);

/// The same for a call that may have got no answer: every transport error is transient.
send_outcome classify(const http::client_response& answer);

} // namespace herald::push::fcm
