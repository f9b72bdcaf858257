#pragma once

// The body of POST /api/v1/notifications/, validated: every mistake is named by field.

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "actors/messaging/messages.hpp"
#include "actors/scheduler/scheduled_send.hpp"
#include "actors/template_cache/render.hpp"
#include "runtime/time/rfc3339.hpp"

namespace herald {

struct notification_request {
  std::string notification_type; ///< "email" or "push"
  std::string user_id;
  std::string template_code;
  nlohmann::json variables = nlohmann::json::object();
  std::string request_id;        ///< optional idempotency key (see request_id_problem)
  int priority = 5;              ///< 1 (lowest) .. 10
  nlohmann::json metadata = nlohmann::json::object();
  std::string language;          ///< optional
  int template_version = 0;      ///< optional pin; 0 means the latest
  /// When to send: set only for a time after the request's `now` (a scheduled send); a
  /// `send_at` at or before it sends at once, as if none was given.
  std::optional<time::instant> send_at;
};

/// How far ahead `send_at` may be.
inline constexpr std::chrono::hours max_schedule_ahead{24 * 30};

struct validation {
  std::optional<notification_request> value;
  int status = 400;   ///< when !value
  std::string error;  ///< names the field
};

/// `now` is the request's arrival: it decides whether `send_at` is ahead, and how far.
validation parse_notification_request(const nlohmann::json& body,
                                      time::instant now = time::now());

/// A request_id (the body's field or the Idempotency-Key header): up to 128 characters,
/// letters, digits and - _ . : only; "" means none.
inline constexpr std::size_t max_request_id_length = 128;

/// "" when `id` is a valid request_id, else an error naming `what` (the field or header).
std::string request_id_problem(const std::string& id, const std::string& what);

/// A fingerprint of a notification request's body, without its request_id (hex of a
/// SHA-256 of the canonical JSON: key order does not matter): the same request_id with
/// another fingerprint is another request.
std::string request_fingerprint(const nlohmann::json& body);

/// "" when `variables` has every variable the template declares, else an error naming the
/// missing ones (a 422 at request time).
std::string missing_variables_error(const template_record& t, const nlohmann::json& variables);

/// What the template makes of a request's variables, checked at request time so that the
/// worker never meets it: {200, ""}, or 413 for variables past `limits`' size, 422 for
/// declared variables missing, 422 for a template that does not render within `limits`
/// with these variables (too large, too slow; see render_limit_problem, cheap unless the
/// variables could make it large).
outcome check_against_template(const template_record& t, const nlohmann::json& variables,
                               const render_limits& limits);

/// The message published to RabbitMQ for a validated request (JSON text), rendered later
/// with exactly `tpl` (its code, language and version).
std::string notification_message(const notification_request& r, const template_record& tpl,
                                    const std::string& notification_id,
                                    const std::string& correlation_id);

/// What the schedule store commits for a validated request whose send_at is ahead: its
/// notification row (`scheduled`) and its scheduled send, holding that very message.
scheduled_intake scheduled_intake_of(const notification_request& r, const template_record& tpl,
                                     const std::string& notification_id,
                                     const std::string& client_id,
                                     const std::string& fingerprint,
                                     const std::string& correlation_id);

} // namespace herald
