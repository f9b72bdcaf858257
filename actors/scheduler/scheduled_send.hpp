#pragma once

// A message held back until `send_at`: what the scheduler publishes then, exactly as it
// would have been published at once (to notifications.direct).

#include <caf/all.hpp>

#include <map>
#include <string>

#include "actors/messaging/messages.hpp"

namespace herald {

struct scheduled_send {
  std::string notification_id;  ///< also the message id
  std::string send_at;          ///< RFC 3339
  std::string reason;           ///< "send_at" or "quiet_hours"
  std::string detail;           ///< the timeline entry's detail
  std::string routing_key;      ///< the channel: email, push
  std::string body;             ///< the message as queued
  std::map<std::string, std::string> headers; ///< as queued (integers as decimal text)
  std::string correlation_id;
  int priority = 5;
  // For a deferral whose notification row is missing (written by the status writer later
  // when the database was down at intake): enough to create it.
  std::string user_id;
  std::string template_code;
  std::string request_id;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, scheduled_send& x) {
  return f(caf::meta::type_name("scheduled_send"), x.notification_id, x.send_at, x.reason,
           x.detail, x.routing_key, x.body, x.headers, x.correlation_id, x.priority, x.user_id,
           x.template_code, x.request_id);
}

/// The gateway's scheduled request: its notification row and its scheduled send.
struct scheduled_intake {
  status_event record;      ///< notification_id, request_id, user_id, channel, ...
  std::string client_id;    ///< the scope of its request_id (intake.hpp)
  std::string fingerprint;  ///< of the request body ("" without a request_id)
  scheduled_send send;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, scheduled_intake& x) {
  return f(caf::meta::type_name("scheduled_intake"), x.record, x.client_id, x.fingerprint,
           x.send);
}

} // namespace herald
