#pragma once

// The channel-independent part of a sender's batch, as pure logic shared by every channel's
// sender (email_sender and push_sender): reading a queued notification message, the template lookup it needs,
// where each message of a batch stands (verdict, decided once: decide, fail) and how a batch is settled with its
// consumer (which tags to ack, which to requeue), and splitting work across a pool.

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "actors/messaging/messages.hpp"

namespace herald::messaging {

/// What one queued message asks for, read from its body (the gateway's message contract:
/// notification_id, notification_type, user_id, template_code, variables, request_id,
/// priority, metadata, language, correlation_id, attempt, and optionally
/// template_language and template_version — the version the gateway resolved).
struct notification_job {
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
  int priority = 5;              ///< 1 (lowest) .. 10; out of range or absent: 5
  nlohmann::json variables = nlohmann::json::object();
  int attempt = 1;               ///< this delivery's attempt: the x-herald-attempt header,
                                 ///< else the body's `attempt`, else 1
  bool from_retry = false;       ///< it came back from a delay queue (an attempt header)
  std::string body;              ///< the message as queued, forwarded unchanged
  std::map<std::string, std::string> headers; ///< as queued (text and integer ones)

  /// True when the gateway named the exact template version (language and version): it
  /// is immutable, so it is rendered as it is, whatever the user's language is now.
  bool pinned() const { return !template_language.empty() && template_version > 0; }
};

/// Reads a message; nullopt with `why` set when it is unreadable (not a JSON object, or
/// no UUID notification_id). Fields of the wrong type count as absent. The attempt comes
/// from the x-herald-attempt header when it holds a positive integer.
std::optional<notification_job> parse_notification_job(const queued_message& m, std::string& why);

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
template_key template_key_for(const notification_job& job, const user_record& user);

/// Splits `n` items into at most `parts` contiguous ranges [first, second) whose sizes
/// differ by at most one; no empty range. Empty when n or parts is 0.
std::vector<std::pair<std::size_t, std::size_t>> split_evenly(std::size_t n, std::size_t parts);

/// Where one message of a batch stands.
enum class verdict {
  pending, ///< still being worked on
  sent,    ///< delivered: record, then ack
  skipped, ///< not to be sent (the user turned the channel off, no device): record, ack
  failed,  ///< permanently failed: dead-lettered (failed.queue), recorded, then acked
  retry,   ///< failed transiently: to a delay queue, recorded `retrying`, then acked
  requeue, ///< a dependency is down: give it back to the queue, a little later
  drop,    ///< nothing to record: ack as it is (unreadable, or already final before)
};

/// An item of a batch is any struct with `verdict result`, `std::string detail` and
/// `std::string reason` (email's batch_item, push's push_item). Its first verdict stands:
/// later ones are ignored, so a step never undoes what an earlier one decided.
template <class Item>
void decide(Item& item, verdict v, std::string detail) {
  if (item.result == verdict::pending) {
    item.result = v;
    item.detail = std::move(detail);
  }
}

/// A permanent failure: the message is dead-lettered with `reason`.
template <class Item>
void fail(Item& item, const char* reason, std::string detail) {
  if (item.result == verdict::pending) {
    item.reason = reason;
  }
  decide(item, verdict::failed, std::move(detail));
}

/// Every item still pending ends requeued with `why` (a dependency is down).
template <class Items>
void requeue_pending(Items& items, const std::string& why) {
  for (auto& item : items) {
    decide(item, verdict::requeue, why);
  }
}

/// The status name of a verdict that is recorded ("sent", "skipped", "failed",
/// "retrying"), else "".
const char* status_name(verdict v);

/// How a batch ends, once its status events were (or were not) written.
struct batch_settlement {
  std::vector<std::uint64_t> ack;
  std::vector<std::uint64_t> requeue;
};

/// Messages with a recorded outcome (their forwarding, if any, already confirmed) are
/// acked when their statuses were written (`recorded`), else requeued; `requeue` verdicts
/// are requeued; `drop` ones acked; a message still `pending` is requeued (it must never
/// stay unsettled).
batch_settlement settle(const std::vector<std::pair<std::uint64_t, verdict>>& outcomes,
                        bool recorded);

/// Terminal statuses: a notification in one of these is never sent again (cancelled: a
/// scheduled send cancelled, whose message a scheduler may still have published).
bool is_terminal_status(const std::string& status);

} // namespace herald::messaging
