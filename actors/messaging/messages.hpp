#pragma once

// The messages Herald's services exchange: verbs (atoms) and the records they carry.
// Every record is inspectable, so it can cross a CAF node boundary unchanged.

#include <caf/all.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace herald {

// -- verbs ---------------------------------------------------------------------

using create_atom = caf::atom_constant<caf::atom("create")>;
using lookup_atom = caf::atom_constant<caf::atom("lookup")>;
using send_atom = caf::atom_constant<caf::atom("send")>;
using record_atom = caf::atom_constant<caf::atom("record")>;
using read_atom = caf::atom_constant<caf::atom("read")>;
using deliver_atom = caf::atom_constant<caf::atom("deliver")>;
using ack_atom = caf::atom_constant<caf::atom("ack")>;
using requeue_atom = caf::atom_constant<caf::atom("requeue")>;
using poll_atom = caf::atom_constant<caf::atom("poll")>;
using flush_atom = caf::atom_constant<caf::atom("flush")>;
using ping_atom = caf::atom_constant<caf::atom("ping")>;
using pause_atom = caf::atom_constant<caf::atom("pause")>;
using resume_atom = caf::atom_constant<caf::atom("resume")>;
using probe_atom = caf::atom_constant<caf::atom("probe")>;

// -- outcomes ------------------------------------------------------------------

/// The outcome of a service call, in REST terms so gateways map it directly:
/// 200/201 done, 400 invalid, 404 unknown, 409 conflict, 422 semantic, 503 unavailable.
struct outcome {
  int status = 200;
  std::string error; ///< "" when fine; otherwise names the problem
  bool ok() const { return status < 300; }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, outcome& x) {
  return f(caf::meta::type_name("outcome"), x.status, x.error);
}

// -- users ---------------------------------------------------------------------

/// A device a user receives push notifications on.
struct push_token {
  std::string id;     ///< uuid, assigned by the users service
  std::string kind;   ///< "fcm" or "webpush"
  std::string token;  ///< FCM registration token, or the Web Push subscription endpoint
  std::string p256dh; ///< Web Push only: the subscription's P-256 public key (base64url)
  std::string auth;   ///< Web Push only: the subscription's auth secret (base64url)
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, push_token& x) {
  return f(caf::meta::type_name("push_token"), x.id, x.kind, x.token, x.p256dh, x.auth);
}

/// When a user does not want push or email: local times HH:MM in an IANA time zone, the
/// period [start, end) (overnight when start > end). The senders defer a notification of
/// priority below 9 that falls inside to the period's end (runtime/time/quiet_hours.hpp,
/// actors/scheduler/quiet_hours_deferral.hpp). All three empty means none.
struct quiet_hours {
  std::string start;
  std::string end;
  std::string timezone;
  bool empty() const { return start.empty(); }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, quiet_hours& x) {
  return f(caf::meta::type_name("quiet_hours"), x.start, x.end, x.timezone);
}

/// A user as the senders and the gateway see it: contact, preferences, quiet hours and
/// devices.
struct user_record {
  std::string id;
  std::string email;
  std::string name;
  std::string language = "en"; ///< preferred language
  bool email_enabled = true;
  bool push_enabled = true;
  std::vector<push_token> push_tokens;
  quiet_hours quiet;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, user_record& x) {
  return f(caf::meta::type_name("user_record"), x.id, x.email, x.name, x.language,
           x.email_enabled, x.push_enabled, x.push_tokens, x.quiet);
}

// -- templates -----------------------------------------------------------------

/// One version of a template in one language. Versions are immutable once written.
struct template_record {
  std::string template_code;
  std::string language = "en";
  int version = 1;
  std::string name;
  std::string channel = "email";
  std::string subject;   ///< email
  std::string body;      ///< email: text body; push: message body
  std::string html_body; ///< email, optional
  std::string title;     ///< push
  std::string image_url; ///< push, optional
  std::string link;      ///< push, optional
  std::string data;      ///< push, optional: a JSON object as text (values may use Mustache)
  std::vector<std::string> variables; ///< declared, so required at request time
  std::string default_language;       ///< the language this code falls back to
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, template_record& x) {
  return f(caf::meta::type_name("template_record"), x.template_code, x.language, x.version,
           x.name, x.channel, x.subject, x.body, x.html_body, x.title, x.image_url, x.link,
           x.data, x.variables, x.default_language);
}

// -- notifications -------------------------------------------------------------

/// One change of a notification's status, written to notification_db by the status writer.
/// The fields after `detail` are only filled by the event that creates the record (the
/// gateway's `queued`); later events may leave them empty.
struct status_event {
  std::string notification_id;
  std::string status; ///< queued, processing, sent, retrying, failed, skipped, dead
  std::string detail; ///< error or reason
  int attempts = 0;
  std::string request_id;
  std::string user_id;
  std::string channel;
  std::string template_code;
  std::string correlation_id;
  std::string language;     ///< the template language chosen for this notification
  int template_version = 0; ///< the template version chosen (0: not known)
  /// Timeline entries that go before this event's own: a JSON array of objects (text; ""
  /// none), e.g. push's one entry per device. Each gets the node and time as every entry;
  /// the notification's status is this event's.
  std::string device_events;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, status_event& x) {
  return f(caf::meta::type_name("status_event"), x.notification_id, x.status, x.detail,
           x.attempts, x.request_id, x.user_id, x.channel, x.template_code,
           x.correlation_id, x.language, x.template_version, x.device_events);
}

/// A message taken from a queue, handed to a worker that answers the consumer with
/// `ack_atom` or `requeue_atom` and the tag.
struct queued_message {
  std::uint64_t tag = 0;
  bool redelivered = false;
  std::string body;
  std::string correlation_id;
  std::string routing_key;
  std::map<std::string, std::string> headers; ///< text and integer headers, as text
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, queued_message& x) {
  return f(caf::meta::type_name("queued_message"), x.tag, x.redelivered, x.body,
           x.correlation_id, x.routing_key, x.headers);
}

/// An email ready to go out, for an SMTP connection actor.
struct outgoing_email {
  std::string to;
  std::string subject;
  std::string text_body;
  std::string html_body;
  std::string notification_id;
  std::string correlation_id;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, outgoing_email& x) {
  return f(caf::meta::type_name("outgoing_email"), x.to, x.subject, x.text_body, x.html_body,
           x.notification_id, x.correlation_id);
}

/// What an SMTP send came to: sent, or a transient or permanent failure.
struct send_result {
  bool sent = false;
  bool permanent = false;
  std::string detail;
  /// A transient failure of this message itself (a 4xx answer to it, or a timeout during
  /// its transaction), not of the relay or the session: retried through the delay queues.
  bool message_specific = false;
  /// The relay could not be talked to (connection refused or lost, timeouts, the session
  /// refused): what the relay's circuit breaker counts as a failure.
  bool relay_failure = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, send_result& x) {
  return f(caf::meta::type_name("send_result"), x.sent, x.permanent, x.detail,
           x.message_specific, x.relay_failure);
}

} // namespace herald
