#pragma once

// Herald's RabbitMQ topology (DESIGN.md, Messaging): one durable direct exchange and a
// durable queue per channel. Declared by every connection on connect.

#include "adapters/amqp/connection.hpp"

namespace herald::messaging {

inline constexpr const char* exchange = "notifications.direct";
inline constexpr const char* email_queue = "email.queue";
inline constexpr const char* push_queue = "push.queue";
inline constexpr const char* failed_queue = "failed.queue";

inline amqp::topology topology() {
  return {exchange,
          {{email_queue, {"email"}}, {push_queue, {"push"}}, {failed_queue, {"failed"}}}};
}

} // namespace herald::messaging
