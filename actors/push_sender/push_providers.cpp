#include "actors/push_sender/push_providers.hpp"

#include <nlohmann/json.hpp>

#include "adapters/http/client.hpp"
#include "adapters/url.hpp"

namespace herald {

using json = nlohmann::json;

namespace {

http::client_settings client_settings(std::chrono::milliseconds timeout, const std::string& ca) {
  http::client_settings c;
  c.connect_timeout = std::min(timeout, std::chrono::milliseconds{5000});
  c.timeout = timeout;
  c.ca_file = ca;
  return c;
}

/// A transient outcome: the provider's own failure (no answer, 5xx) counts against its
/// breaker; a 429 or another 4xx is the provider answering.
device_outcome transient(const http::client_response& answer, std::string detail,
                         std::int64_t retry_after_ms) {
  bool provider_failure = !answer.answered() || answer.status >= 500;
  return device_outcome::transient(std::move(detail), provider_failure, retry_after_ms);
}

class fcm_sender final : public push_provider {
public:
  explicit fcm_sender(fcm_settings s)
    : s_(std::move(s)), client_(client_settings(s_.timeout, s_.ca_file)) {}

  device_outcome send(const push_delivery& d) override {
    namespace fcm = push::fcm;
    fcm::content c;
    c.title = d.title;
    c.body = d.body;
    c.image = d.image_url;
    c.link = d.link;
    c.data = fcm::string_data(json::parse(d.data, nullptr, false));
    c.prio = d.options.high ? fcm::priority::high : fcm::priority::normal;
    auto message = fcm::build_message(d.device.token, c);
    if (!message.error.empty()) {
      return device_outcome::refused("FCM message: " + message.error);
    }
    for (int round = 0; round < 2; ++round) {
      std::string token;
      if (auto t = cache_.current(std::chrono::steady_clock::now())) {
        token = *t;
      } else {
        auto fetched = fetch_token();
        if (!fetched.error.empty()) {
          return fetched.outcome;
        }
        token = fetched.token;
      }
      auto answer = client_.send(fcm::send_request(s_.endpoint, s_.account.project_id, token,
                                                   message.json));
      auto o = fcm::classify(answer);
      switch (o.result) {
        case fcm::verdict::accepted:
          return device_outcome::accepted(o.message_name);
        case fcm::verdict::device_gone:
          return device_outcome::gone(o.detail);
        case fcm::verdict::message_rejected:
        case fcm::verdict::wrong_sender:
          return device_outcome::refused(o.detail);
        case fcm::verdict::token_rejected:
          cache_.invalidate(token);
          if (round == 0) {
            continue;
          }
          return transient(answer, "FCM refused a fresh access token: " + o.detail, -1);
        case fcm::verdict::transient:
          return transient(answer, o.detail,
                           o.retry_after ? std::chrono::milliseconds{*o.retry_after}.count() : -1);
      }
    }
    return device_outcome::transient("FCM: no outcome", true);
  }

private:
  struct fetch_result {
    std::string token;
    std::string error;
    device_outcome outcome;
  };

  fetch_result fetch_token() {
    namespace fcm = push::fcm;
    auto jwt = fcm::assertion(s_.account, std::chrono::system_clock::now());
    if (!jwt.error.empty()) {
      return {{}, jwt.error, device_outcome::refused("FCM credentials: " + jwt.error)};
    }
    auto fetched_at = std::chrono::steady_clock::now();
    auto answer = client_.send(fcm::token_request(s_.account, jwt.jwt));
    auto t = fcm::read_token_response(answer);
    if (!t.token) {
      if (t.credentials_rejected) {
        return {{}, t.error, device_outcome::refused("FCM credentials refused: " + t.error)};
      }
      return {{}, t.error, transient(answer, "FCM access token: " + t.error, -1)};
    }
    cache_.store(*t.token, fetched_at);
    return {t.token->value, {}, {}};
  }

  fcm_settings s_;
  http::client client_;
  push::fcm::token_cache cache_;
};

class webpush_sender final : public push_provider {
public:
  explicit webpush_sender(webpush_settings s)
    : s_(std::move(s)), client_(client_settings(s_.timeout, s_.ca_file)) {}

  device_outcome send(const push_delivery& d) override {
    webpush::subscription sub{d.device.token, d.device.p256dh, d.device.auth};
    if (auto why = webpush::check_subscription(sub, s_.endpoints); !why.empty()) {
      return device_outcome::refused("subscription: " + why);
    }
    auto u = parse_url(sub.endpoint);
    if (!u) {
      return device_outcome::refused("subscription endpoint is not a URL");
    }
    auto resolved = net::resolve(u->host);
    if (!resolved.error.empty()) {
      return device_outcome::transient("endpoint " + u->host + ": " + resolved.error, true);
    }
    if (auto why = net::resolved_problem(resolved.addresses, s_.endpoints); !why.empty()) {
      return device_outcome::refused("endpoint " + u->host + " " + why);
    }
    auto urgency = webpush::parse_urgency(d.options.urgency).value_or(webpush::urgency::normal);
    auto built = webpush::build_request(sub, webpush_payload(d), s_.keys, s_.subject,
                                        std::chrono::seconds{d.options.ttl_s}, urgency,
                                        std::chrono::system_clock::now());
    if (!built.value) {
      return device_outcome::refused("Web Push request: " + built.error);
    }
    http::client_request req;
    req.method = "POST";
    req.url = built.value->url;
    req.headers = built.value->headers;
    req.body = built.value->body;
    req.pin = resolved.addresses.front();
    auto answer = client_.send(req);
    if (!answer.answered()) {
      return transient(answer, std::string{"Web Push: "} + http::to_string(answer.error) + ": "
                                 + answer.error_text, -1);
    }
    webpush::header_list headers(answer.headers.begin(), answer.headers.end());
    auto o = webpush::classify(answer.status, headers, answer.body,
                               std::chrono::system_clock::now());
    switch (o.kind) {
      case webpush::outcome_kind::accepted:
        return device_outcome::accepted(o.reason);
      case webpush::outcome_kind::gone:
        return device_outcome::gone(o.reason);
      case webpush::outcome_kind::permanent:
        return device_outcome::refused(o.reason);
      case webpush::outcome_kind::transient:
        break;
    }
    return device_outcome::transient(
      o.reason, o.service_failure,
      o.retry_after ? std::chrono::milliseconds{*o.retry_after}.count() : -1);
  }

private:
  webpush_settings s_;
  http::client client_;
};

} // namespace

std::string webpush_payload(const push_delivery& d) {
  json p = {{"title", d.title}, {"body", d.body}, {"notification_id", d.notification_id}};
  if (!d.image_url.empty()) {
    p["image"] = d.image_url;
  }
  if (!d.link.empty()) {
    p["link"] = d.link;
  }
  auto data = json::parse(d.data, nullptr, false);
  if (data.is_object() && !data.empty()) {
    p["data"] = std::move(data);
  }
  return p.dump(-1, ' ', false, json::error_handler_t::replace);
}

provider_factory fcm_provider(fcm_settings s) {
  return [s] { return std::make_unique<fcm_sender>(s); };
}

provider_factory webpush_provider(webpush_settings s) {
  return [s] { return std::make_unique<webpush_sender>(s); };
}

} // namespace herald
