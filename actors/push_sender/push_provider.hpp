#pragma once

// The boundary between the push sender and the push services' adapters (adapters/push/:
// FCM HTTP v1, Web Push). A provider sends one push to one device and says what came of
// it as a device_outcome; it blocks (HTTP), so it runs only inside a provider worker, a
// detached actor that owns one provider object (one kept-alive HTTP client) for its life.
// The push sender maps outcomes to policy: device removal, retries, dead letters, breakers.
//
// What an adapter's answer means here (the adapter's classify() decides):
//   accepted   the service took the message for this device (FCM 200, Web Push 201/202)
//   gone       the device will never receive again (FCM UNREGISTERED, or INVALID_ARGUMENT
//              naming the token; Web Push 404/410): removed from the user; permanent
//   refused    the service refused this message for this device, or the provider cannot
//              send at all (not configured: the detail names the setting); permanent for
//              this message; the device stays
//   transient  try again later (429 with its Retry-After, 5xx, timeouts, connection
//              failures); `provider_failure` when the service itself could not be talked to
//              or failed (5xx, connection, timeout): what the provider's circuit breaker
//              counts. A 429 is the service answering: not a breaker failure.

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "actors/messaging/messages.hpp"

namespace herald {

enum class device_result : std::uint8_t { accepted, gone, refused, transient };

std::string to_string(device_result r);

/// What one send to one device came to.
struct device_outcome {
  device_result result = device_result::transient;
  std::string detail;               ///< the service's answer or the error, for the timeline
  std::int64_t retry_after_ms = -1; ///< transient only: the service's Retry-After; -1 none
  bool provider_failure = false;    ///< transient only: counts against the breaker

  static device_outcome accepted(std::string detail = {}) {
    return {device_result::accepted, std::move(detail), -1, false};
  }
  static device_outcome gone(std::string detail) {
    return {device_result::gone, std::move(detail), -1, false};
  }
  static device_outcome refused(std::string detail) {
    return {device_result::refused, std::move(detail), -1, false};
  }
  static device_outcome transient(std::string detail, bool provider_failure,
                                  std::int64_t retry_after_ms = -1) {
    return {device_result::transient, std::move(detail), retry_after_ms, provider_failure};
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, device_outcome& x) {
  return f(caf::meta::type_name("device_outcome"), x.result, x.detail, x.retry_after_ms,
           x.provider_failure);
}

/// How long a push service keeps a message for an offline device, and how urgently it
/// delivers it, from the notification's priority (1-10). See push_options_for.
struct push_options {
  int ttl_s = 86400;            ///< Web Push `TTL`; FCM android.ttl / apns-expiration
  std::string urgency = "normal"; ///< Web Push `Urgency`: very-low, low, normal, high
  bool high = false;            ///< FCM android.priority HIGH, apns-priority 10 (else NORMAL, 5)
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, push_options& x) {
  return f(caf::meta::type_name("push_options"), x.ttl_s, x.urgency, x.high);
}

/// The mapping (README, "Push"): priority 1-2 very-low, 3-4 low, 5-7 normal, 8-10 high
/// urgency; a high one (8-10) lives an hour (it is about now: stale later, and a burst of
/// them must not wait for a device that comes back tomorrow), every other one a day.
/// Out of range counts as 5.
push_options push_options_for(int priority);

/// One push for one device, as a provider worker gets it.
struct push_delivery {
  push_token device;
  std::string title;
  std::string body;
  std::string image_url;
  std::string link;
  std::string data; ///< a JSON object of string values, as text
  push_options options;
  std::string notification_id;
  std::string correlation_id;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, push_delivery& x) {
  return f(caf::meta::type_name("push_delivery"), x.device, x.title, x.body, x.image_url,
           x.link, x.data, x.options, x.notification_id, x.correlation_id);
}

/// One provider: sends one delivery, blocking, and classifies the answer. Each worker
/// owns one and calls it from its own thread only.
class push_provider {
public:
  virtual ~push_provider() = default;
  virtual device_outcome send(const push_delivery& d) = 0;
};

/// Makes a worker's provider (called again when the worker restarts).
using provider_factory = std::function<std::unique_ptr<push_provider>()>;

} // namespace herald
