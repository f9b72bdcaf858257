#pragma once

// Where a delivery goes when it is not settled by its worker: to a delay queue for a later
// attempt, or to failed.queue as a dead letter. Messages keep their body, message id and
// correlation id and priority unchanged; what happened travels in headers (topology.hpp names them).
// Shared by every channel's worker and by replays.

#include <chrono>
#include <optional>
#include <string>

#include "actors/messaging/topology.hpp"
#include "runtime/supervision/retry_schedule.hpp"

namespace herald::messaging {

/// Why a message was dead-lettered: the `reason` of its dead letter (a filter of the
/// dead-letters API); the detail says more.
namespace reason {
inline constexpr const char* smtp_refused = "smtp_refused";           ///< SMTP 5xx for this mail
inline constexpr const char* retries_exhausted = "retries_exhausted"; ///< transient, every step spent
inline constexpr const char* unknown_user = "unknown_user";
inline constexpr const char* unknown_template = "unknown_template";   ///< or of the wrong channel
inline constexpr const char* render_error = "render_error";           ///< or missing variables
inline constexpr const char* unreadable = "unreadable";               ///< not a notification message
/// It crashed its worker twice (runtime/supervision/crash_ledger.hpp); the detail is the
/// exception's text.
inline constexpr const char* poison = "poison";
} // namespace reason

/// The next attempt of a message whose attempt `attempt` (1 for the first) failed
/// transiently: its delay queue and jittered delay, or nullopt when the steps are spent.
struct retry_plan {
  std::chrono::milliseconds step;  ///< the delay queue's step
  std::chrono::milliseconds delay; ///< this message's expiration there
  int next_attempt;
};

inline std::optional<retry_plan> plan_retry(int attempt, const runtime::retry_schedule& s,
                                            double random01) {
  auto step = s.step_after(attempt);
  if (!step) {
    return std::nullopt;
  }
  return retry_plan{s.steps[*step], s.delay(*step, random01), attempt + 1};
}

/// The message for the delay queue of `plan`; it comes back to `routing_key`'s queue.
inline amqp::message to_delay_queue(std::string body, const std::string& routing_key,
                                    std::string message_id, std::string correlation_id,
                                    const retry_plan& plan) {
  amqp::message m;
  m.exchange = retry_exchange;
  m.routing_key = routing_key;
  m.body = std::move(body);
  m.message_id = std::move(message_id);
  m.correlation_id = std::move(correlation_id);
  m.headers = {{delay_queue_header, delay_queue(plan.step)}};
  m.int_headers = {{attempt_header, plan.next_attempt}};
  m.expiration = std::to_string(std::max<long long>(1, plan.delay.count()));
  m.priority = priority_of(m.body); // kept by RabbitMQ when the delay queue dead-letters it
  return m;
}

/// The dead letter of a message from `channel` after `attempts` attempts.
inline amqp::message to_failed_queue(std::string body, const std::string& channel,
                                     std::string message_id, std::string correlation_id,
                                     const std::string& why, std::string detail, int attempts) {
  amqp::message m;
  m.exchange = exchange;
  m.routing_key = failed_routing_key;
  m.body = std::move(body);
  m.message_id = std::move(message_id);
  m.correlation_id = std::move(correlation_id);
  if (detail.size() > 1000) {
    detail.resize(1000);
  }
  m.headers = {{reason_header, why}, {detail_header, std::move(detail)}, {channel_header, channel}};
  m.int_headers = {{attempts_header, attempts}};
  m.priority = priority_of(m.body);
  return m;
}

} // namespace herald::messaging
