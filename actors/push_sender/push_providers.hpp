#pragma once

// The push providers the push sender's workers own (push_provider.hpp): FCM HTTP v1 and
// Web Push, each a thin loop around its adapter (adapters/push/) and one kept-alive
// http::client (adapters/http/client.hpp). Blocking: only ever called by one provider
// worker, on its own thread.
//
// FCM: each worker keeps its own access token (fcm::token_cache): N workers fetch N tokens
// an hour, and no lock is shared between threads; a 401 drops that worker's token and the
// send is tried once more with a fresh one. Priority: HIGH (apns-priority 10) for 8-10,
// else NORMAL (push_options_for).
// Web Push: the endpoint is user input, so before each send its host is resolved here
// (net::resolve, off the scheduler) and every address judged (net::resolved_problem, under
// push.allow_insecure_endpoints); the request goes to the address judged (pinned), never
// to a second resolution. The payload the service worker receives is JSON:
// {"title", "body", "image", "link", "data", "notification_id"}. TTL and Urgency from
// push_options_for.

#include <chrono>
#include <string>

#include "actors/push_sender/push_provider.hpp"
#include "adapters/net/outbound.hpp"
#include "adapters/push/fcm.hpp"
#include "adapters/push/webpush.hpp"

namespace herald {

struct fcm_settings {
  push::fcm::service_account account;
  std::string endpoint;
  std::chrono::milliseconds timeout{10000};
  std::string ca_file; ///< push.ca_file; "": the system's CA store
};

struct webpush_settings {
  webpush::vapid_keys keys;
  std::string subject;
  net::outbound_policy endpoints;
  std::chrono::milliseconds timeout{10000};
  std::string ca_file;
};

provider_factory fcm_provider(fcm_settings s);
provider_factory webpush_provider(webpush_settings s);

/// The JSON a browser's service worker gets (the Web Push payload).
std::string webpush_payload(const push_delivery& d);

} // namespace herald
