#pragma once

// The pure logic of one push notification's delivery, kept apart from the actors so it is
// tested without servers: which of the user's devices an attempt sends to, how the
// devices' outcomes decide the notification's fate, when the retry comes back, and the
// per-device timeline entries.
//
// -- The rule ---------------------------------------------------------------------------
// Every device the user has when the attempt starts is sent to, except those that already
// accepted this notification in an earlier attempt (their ids travel on the retry message
// in the herald-push-done header). Each device ends accepted, gone, refused or transient
// (push_provider.hpp), or deferred: not attempted because its provider's circuit breaker
// is open. Then, over the devices of this attempt and those accepted before:
//   - none attempted (every device deferred): requeued, no attempt spent;
//   - some transient or deferred: `retrying` through the next delay queue, the accepted
//     ones carried in herald-push-done; an attempt is spent only when a device failed
//     transiently (deferred ones alone retry at the same attempt); when the steps are
//     spent: `sent` if a device accepted, else dead-lettered `retries_exhausted`;
//   - none waiting: `sent` when at least one device accepted (now or before), else
//     dead-lettered `no_device_accepted` (every device gone or refused).
// So a notification is `sent` as soon as every device is settled and one accepted, and a
// retry never sends to a device that accepted it.

#include <chrono>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "actors/messaging/forwarding.hpp"
#include "actors/messaging/notification_job.hpp"
#include "actors/push_sender/push_provider.hpp"

namespace herald {

/// The header of a retried push message: the ids of the devices that accepted it so far,
/// comma-separated.
inline constexpr const char* push_done_header = "herald-push-done";

/// Dead-letter reason: every device of the user was gone or refused the message.
inline constexpr const char* no_device_accepted = "no_device_accepted";

/// The device ids of a herald-push-done value (UUIDs only; at most 1000 of them).
std::set<std::string> parse_push_done(const std::string& header);
std::string format_push_done(const std::set<std::string>& ids);

/// The devices an attempt sends to: `devices` minus those in `done`, in order.
std::vector<push_token> devices_to_send(const std::vector<push_token>& devices,
                                        const std::set<std::string>& done);

/// One device's part in an attempt.
struct device_report {
  push_token device;
  device_outcome outcome;
  bool deferred = false; ///< not attempted: its provider's breaker was open
};

/// What the attempt comes to.
struct push_decision {
  messaging::verdict verdict = messaging::verdict::pending; ///< sent, retry, failed, requeue
  std::string reason;        ///< the dead-letter reason, for failed
  std::string detail;        ///< for the status record
  bool spend_attempt = true; ///< retry: the next delivery is attempt + 1 (else the same)
  std::set<std::string> done;        ///< accepted so far (before and now)
  std::int64_t retry_after_ms = -1;  ///< retry: the longest Retry-After a device asked for
};

/// The rule above. `retries_left`: a delay step remains after this attempt.
push_decision decide_push(const std::vector<device_report>& reports,
                          const std::set<std::string>& done_before, bool retries_left);

/// The delay queue of a retry: with `spend`, the step after `attempt`, as for every
/// channel (nullopt when spent); without, the step of `attempt` itself at the same
/// attempt (the last step once past the end). The delay is at least `min_delay_ms` (a
/// Retry-After) when a step's queue can hold it (a delay queue keeps a message at most
/// twice its step): the first step from there on that can, capped at twice the last.
std::optional<messaging::retry_plan> plan_push_retry(int attempt, bool spend,
                                                     const runtime::retry_schedule& s,
                                                     double random01,
                                                     std::int64_t min_delay_ms = -1);

/// The timeline entries of an attempt's devices, as a JSON array (text):
/// [{"status": "device", "device_id", "kind", "outcome", "detail"}, ...], outcome one of
/// accepted, gone, refused, transient, deferred. Details are cut to 300 bytes.
std::string device_events(const std::vector<device_report>& reports);

/// Devices to remove from the user: those that answered gone.
std::vector<push_token> gone_devices(const std::vector<device_report>& reports);

} // namespace herald
