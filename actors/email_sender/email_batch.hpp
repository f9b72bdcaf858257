#pragma once

// The pure logic of the email pipeline's batches, kept apart from the actors so it can be
// tested without servers: reading a queued message, grouping a batch's template lookups,
// splitting its emails across SMTP connections, and turning the outcomes of a batch into
// status events and settlements (which tags to ack, which to requeue).

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "actors/messaging/messages.hpp"
#include "adapters/smtp/client.hpp"
#include "runtime/supervision/circuit_breaker.hpp"

namespace herald {

/// What one queued message asks for, read from its body (the gateway's message contract:
/// notification_id, notification_type, user_id, template_code, variables, request_id,
/// priority, metadata, language, correlation_id, attempt, and optionally
/// template_language and template_version — the version the gateway resolved).
struct email_job {
  std::uint64_t tag = 0;
  bool redelivered = false;
  std::string notification_id;
  std::string user_id;
  std::string template_code;
  std::string language;          ///< the request's language; may be ""
  std::string template_language; ///< pinned by the gateway; "" for older messages
  int template_version = 0;      ///< pinned by the gateway; 0: the latest
  std::string request_id;
  std::string correlation_id;
  nlohmann::json variables = nlohmann::json::object();
  int attempt = 1;               ///< this delivery's attempt: the x-herald-attempt header,
                                 ///< else the body's `attempt`, else 1
  std::string body;              ///< the message as queued, forwarded unchanged

  /// True when the gateway named the exact template version (language and version): it
  /// is immutable, so it is rendered as it is, whatever the user's language is now.
  bool pinned() const { return !template_language.empty() && template_version > 0; }
};

/// Reads a message; nullopt with `why` set when it is unreadable (not a JSON object, or
/// no UUID notification_id). Fields of the wrong type count as absent. The attempt comes
/// from the x-herald-attempt header when it holds a positive integer.
std::optional<email_job> parse_email_job(const queued_message& m, std::string& why);

/// The template lookup a job needs once its user is known: the code, the languages to try
/// in order, and the version (0: the latest).
struct template_key {
  std::string code;
  std::vector<std::string> languages;
  int version = 0;

  /// One string per distinct lookup, so a batch asks once per distinct key.
  std::string text() const;
};

/// The pinned language and version when the job has them, else the user's language, then
/// the request's, and the version the message names (0 when none).
template_key template_key_for(const email_job& job, const user_record& user);

/// Splits `n` items into at most `parts` contiguous ranges [first, second) whose sizes
/// differ by at most one; no empty range. Empty when n or parts is 0.
std::vector<std::pair<std::size_t, std::size_t>> split_evenly(std::size_t n, std::size_t parts);

/// Where one message of a batch stands.
enum class verdict {
  pending, ///< still being worked on
  sent,    ///< delivered to the relay: record, then ack
  skipped, ///< not to be sent (the user turned email off): record, then ack
  failed,  ///< permanently failed: dead-lettered (failed.queue), recorded, then acked
  retry,   ///< failed transiently for itself: to a delay queue, recorded `retrying`, acked
  requeue, ///< a dependency is down: give it back to the queue, a little later
  drop,    ///< nothing to record: ack as it is (unreadable, or already final before)
};

/// The status name of a verdict that is recorded ("sent", "skipped", "failed",
/// "retrying"), else "".
const char* status_name(verdict v);

/// How a batch ends, once its status events were (or were not) written.
struct batch_settlement {
  std::vector<std::uint64_t> ack;
  std::vector<std::uint64_t> requeue;
};

/// Messages with a recorded outcome (their forwarding, if any, already confirmed) are acked
/// when their statuses were written
/// (`recorded`), else requeued; `requeue` verdicts are requeued; `drop` ones acked; a
/// message still `pending` is requeued (it must never stay unsettled).
batch_settlement settle(const std::vector<std::pair<std::uint64_t, verdict>>& outcomes,
                        bool recorded);

/// Terminal statuses: a notification in one of these is never sent again.
bool is_terminal_status(const std::string& status);

// -- SMTP outcomes and the relays' circuit breakers ---------------------------------------

/// What the sender acts on for one SMTP outcome. `message_specific`: the relay answered
/// this mail's command with a 4xx (not 421) or went silent during its transaction — the
/// message's own failure, retried through the delay queues. `relay_failure`: the relay
/// could not be talked to for this mail — connection refused or lost, a timeout, the
/// session refused (greeting, EHLO, STARTTLS, AUTH, 421), or not attempted after such a
/// failure; a timeout during a transaction is both. An answered refusal (a 5xx, or a 4xx
/// for one recipient) is neither: the relay is up.
send_result to_send_result(const smtp::send_outcome& r);

/// Whether one send request to one relay connection — `results` for `expected` mails —
/// counts as a failure for the relay's circuit breaker: a result missing, or any mail the
/// relay could not be talked to for. Otherwise (each mail sent or refused by an answer)
/// it counts as a success. One request is one call, whatever its size: a relay that is
/// down fails the first mail and the rest are not attempted.
bool relay_failed(const std::vector<send_result>& results, std::size_t expected);

/// Where a batch's mails go.
enum class smtp_route { primary, fallback, paused };

/// The primary while its breaker is closed; else the fallback, when one is configured,
/// while its breaker is closed; else none: the email service pauses consumption. A
/// half-open breaker carries only its probe, never a batch.
smtp_route choose_route(runtime::breaker_state primary,
                        std::optional<runtime::breaker_state> fallback);

} // namespace herald
