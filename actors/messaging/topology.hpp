#pragma once

// Herald's RabbitMQ topology (DESIGN.md, Messaging): one durable direct exchange and a
// durable queue per channel, and for retries one delay queue per backoff step. Declared by
// every connection on connect.
//
// Retries: a message whose delivery failed transiently is published to the headers
// exchange notifications.retry with its original routing key (e.g. `email`) and the header
// herald-delay-queue naming one delay queue, `retry.<ms>ms`, which only that header
// routes to (not an `x-` name: RabbitMQ's headers exchange ignores those when matching, so
// a binding on one matched every message, and each retry went to every delay queue). The message carries its own expiration (the step, jittered per message); the
// queue's own TTL (twice the step) is a backstop. When it expires, RabbitMQ dead-letters it
// to notifications.direct with its original routing key, so it comes back to its channel's
// queue. Expiry happens at the head of a queue only: a message may wait behind an older one
// with a longer jittered expiration, by at most the step's jitter.
//
// Priorities (issue 12): email.queue and push.queue are declared with x-max-priority 10 and
// every message carries its notification's priority (1-10) as basic.properties priority,
// so a priority-10 message overtakes a backlog of lower ones (among the messages not yet
// delivered: a consumer's prefetch window is already on its way). Every publish sets it:
// the gateway's, a retry's (and RabbitMQ keeps it when a delay queue dead-letters the
// message back), a dead letter's and its replay's (taken from the message body's
// `priority`, see priority_of). A queue declared before this (without the argument) makes
// the broker refuse the declare (PRECONDITION_FAILED): the node refuses to start and
// names the fix (node.cpp, check_topology; README "Priorities").

#include <nlohmann/json.hpp>

#include <chrono>
#include <string>
#include <vector>

#include "adapters/amqp/connection.hpp"

namespace herald::messaging {

inline constexpr const char* exchange = "notifications.direct";
inline constexpr const char* retry_exchange = "notifications.retry";
inline constexpr const char* email_queue = "email.queue";
inline constexpr const char* push_queue = "push.queue";
inline constexpr const char* failed_queue = "failed.queue";
inline constexpr const char* failed_routing_key = "failed";

// -- headers -----------------------------------------------------------------------
/// The attempt this delivery is (1 for the first); absent means 1.
inline constexpr const char* attempt_header = "x-herald-attempt";
/// Routes a message on notifications.retry to one delay queue. Not an `x-` name: the
/// headers exchange would ignore it.
inline constexpr const char* delay_queue_header = "herald-delay-queue";
/// The header delay queues were bound by before: that binding matched every retry, so it
/// is removed when the topology is declared.
inline constexpr const char* old_delay_queue_header = "x-herald-delay-queue";
/// On failed.queue: why (a reason code), the detail, the attempts made, the channel.
inline constexpr const char* reason_header = "x-herald-reason";
inline constexpr const char* detail_header = "x-herald-detail";
inline constexpr const char* attempts_header = "x-herald-attempts";
inline constexpr const char* channel_header = "x-herald-channel";
/// Published by the scheduler (its send_at, RFC 3339): the copy may be a second one (a
/// scheduler that died between publishing and committing publishes again), so a sender
/// treats it as redelivered and checks the notification's status before sending.
inline constexpr const char* scheduled_header = "x-herald-scheduled";

/// The name of the delay queue of a step.
inline std::string delay_queue(std::chrono::milliseconds step) {
  return "retry." + std::to_string(step.count()) + "ms";
}

/// The highest priority of the channels' queues (x-max-priority): Herald's 1-10 as is.
inline constexpr std::int64_t max_priority = 10;

/// The AMQP priority of a notification message: its body's `priority` (1-10), 5 when
/// absent, out of range or unreadable (as notification_job reads it).
inline std::uint8_t priority_of(const std::string& body) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_object()) {
    if (auto i = j.find("priority"); i != j.end() && i->is_number_integer()) {
      auto p = i->get<std::int64_t>();
      if (p >= 1 && p <= max_priority) {
        return static_cast<std::uint8_t>(p);
      }
    }
  }
  return 5;
}

/// The exchange and the channels' queues.
inline amqp::topology topology() {
  amqp::queue_spec email{email_queue, {"email"}};
  email.int_args = {{"x-max-priority", max_priority}};
  amqp::queue_spec push{push_queue, {"push"}};
  push.int_args = {{"x-max-priority", max_priority}};
  return {exchange, {std::move(email), std::move(push), {failed_queue, {failed_routing_key}}}};
}

/// The same and the retry exchange with one delay queue per step.
inline amqp::topology topology(const std::vector<std::chrono::milliseconds>& steps) {
  auto t = topology();
  t.exchanges.push_back({retry_exchange, "headers"});
  for (auto step : steps) {
    amqp::queue_spec q;
    q.name = delay_queue(step);
    q.string_args = {{"x-dead-letter-exchange", exchange}};
    q.int_args = {{"x-message-ttl", 2 * step.count()}};
    q.headers_exchange = retry_exchange;
    q.match_headers = {{delay_queue_header, q.name}};
    q.unbind_headers = {{old_delay_queue_header, q.name}};
    t.queues.push_back(std::move(q));
  }
  return t;
}

} // namespace herald::messaging
