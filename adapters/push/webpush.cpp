#include "adapters/push/webpush.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <ctime>
#include <exception>

#include "adapters/http/server.hpp"
#include "adapters/url.hpp"
#include "runtime/auth/base64.hpp"

namespace herald::webpush {

namespace {

using namespace std::chrono_literals;

/// base64url with or without '=' padding (browsers and libraries differ).
std::optional<std::string> decode_key(std::string_view text) {
  auto end = text.find_last_not_of('=');
  auto padding = end == std::string_view::npos ? text.size() : text.size() - end - 1;
  if (padding > 2 || (padding > 0 && text.size() % 4 != 0)) {
    return std::nullopt;
  }
  return auth::base64url_decode(text.substr(0, text.size() - padding));
}

std::string lower(std::string_view s) {
  std::string out{s};
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string big_endian32(std::uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16 & 0xFF),
          static_cast<char>(v >> 8 & 0xFF), static_cast<char>(v & 0xFF)};
}

/// The subscription's keys decoded and checked, or the problem.
struct receiver_keys {
  crypto::p256_key public_key;
  std::string point;
  std::string auth_secret;
  std::string error;
};

receiver_keys decode_receiver(const subscription& s) {
  receiver_keys out;
  auto point = decode_key(s.p256dh);
  if (!point || point->size() != crypto::point_size) {
    out.error = "p256dh must be base64url of a 65-byte uncompressed P-256 point";
    return out;
  }
  out.public_key = crypto::public_key(*point);
  if (!out.public_key) {
    out.error = "p256dh is not an uncompressed point on P-256";
    return out;
  }
  out.point = std::move(*point);
  auto secret = decode_key(s.auth);
  if (!secret || secret->size() != 16) {
    out.error = "auth must be base64url of a 16-byte secret";
    return out;
  }
  out.auth_secret = std::move(*secret);
  return out;
}

} // namespace

// -- VAPID keys -----------------------------------------------------------------------

vapid_keys::vapid_keys(crypto::p256_key key)
  : key_(std::move(key)), public_b64_(auth::base64url_encode(crypto::public_point(key_))) {}

std::optional<vapid_keys> vapid_keys::parse(std::string_view public_key,
                                            std::string_view private_key, std::string& error) {
  try {
    auto point = decode_key(public_key);
    if (!point || point->size() != crypto::point_size) {
      error = "the VAPID public key must be base64url of a 65-byte uncompressed P-256 point "
              "(87 characters)";
      return std::nullopt;
    }
    if (!crypto::public_key(*point)) {
      error = "the VAPID public key is not an uncompressed point on P-256";
      return std::nullopt;
    }
    auto scalar = decode_key(private_key);
    if (!scalar || scalar->size() != crypto::scalar_size) {
      error = "the VAPID private key must be base64url of a 32-byte P-256 scalar "
              "(43 characters)";
      return std::nullopt;
    }
    auto key = crypto::private_key(*scalar);
    if (!key) {
      error = "the VAPID private key is not a valid P-256 scalar (0 or not below the order)";
      return std::nullopt;
    }
    if (crypto::public_point(key) != *point) {
      error = "the VAPID public key is not the private key's: were they generated together?";
      return std::nullopt;
    }
    return vapid_keys{std::move(key)};
  } catch (const std::exception& e) {
    error = e.what();
    return std::nullopt;
  }
}

vapid_keys vapid_keys::generate() {
  return vapid_keys{crypto::generate_key()};
}

std::string vapid_keys::private_key() const {
  return auth::base64url_encode(crypto::private_scalar(key_));
}

std::string check_subject(std::string_view subject) {
  if (subject.empty()) {
    return "is empty: a mailto: or https: contact for the push services";
  }
  if (subject.size() > max_subject_length) {
    return "is longer than " + std::to_string(max_subject_length) + " characters";
  }
  for (unsigned char c : subject) {
    if (c <= 0x20 || c == 0x7F) {
      return "must not contain spaces or control characters";
    }
  }
  if (subject.rfind("mailto:", 0) == 0) {
    auto address = subject.substr(7);
    auto at = address.find('@');
    if (at == std::string_view::npos || at == 0 || at + 1 == address.size()) {
      return "must be mailto:someone@host, got '" + std::string{subject} + "'";
    }
    return {};
  }
  if (subject.rfind("https://", 0) == 0) {
    auto u = parse_url(subject);
    if (!u || u->host.empty()) {
      return "must be an https:// URL with a host, got '" + std::string{subject} + "'";
    }
    return {};
  }
  return "must start with mailto: or https://, got '" + std::string{subject} + "'";
}

// -- subscriptions --------------------------------------------------------------------

std::string check_subscription(const subscription& s, const net::outbound_policy& policy) {
  if (s.endpoint.size() > max_endpoint_length) {
    return "endpoint is longer than " + std::to_string(max_endpoint_length) + " characters";
  }
  if (auto why = net::check_url(s.endpoint, policy); !why.empty()) {
    return "endpoint " + why;
  }
  try {
    return decode_receiver(s).error;
  } catch (const std::exception& e) {
    return e.what();
  }
}

subscription_result parse_subscription(const nlohmann::json& j) {
  auto refuse = [](std::string why) { return subscription_result{std::nullopt, std::move(why)}; };
  if (!j.is_object()) {
    return refuse("a subscription must be an object {\"endpoint\", \"keys\": {\"p256dh\", "
                  "\"auth\"}}");
  }
  for (auto& [name, value] : j.items()) {
    if (name != "endpoint" && name != "expirationTime" && name != "keys") {
      return refuse("unknown field '" + name + "' in the subscription");
    }
  }
  subscription s;
  auto endpoint = j.find("endpoint");
  if (endpoint == j.end() || !endpoint->is_string()
      || endpoint->get_ref<const std::string&>().empty()) {
    return refuse("field 'endpoint' is required (a URL)");
  }
  if (endpoint->get_ref<const std::string&>().size() > max_endpoint_length) {
    return refuse("field 'endpoint' is longer than " + std::to_string(max_endpoint_length)
                  + " characters");
  }
  s.endpoint = endpoint->get<std::string>();
  if (auto e = j.find("expirationTime"); e != j.end() && !e->is_null() && !e->is_number()) {
    return refuse("field 'expirationTime' must be null or a number (milliseconds)");
  }
  auto keys = j.find("keys");
  if (keys == j.end() || !keys->is_object()) {
    return refuse("field 'keys' must be an object {\"p256dh\", \"auth\"}");
  }
  for (auto& [name, value] : keys->items()) {
    if (name != "p256dh" && name != "auth") {
      return refuse("unknown field 'keys." + name + "' in the subscription");
    }
  }
  for (auto [name, into] : {std::pair{"p256dh", &s.p256dh}, std::pair{"auth", &s.auth}}) {
    auto k = keys->find(name);
    if (k == keys->end() || !k->is_string() || k->get_ref<const std::string&>().size() > 256) {
      return refuse(std::string{"field 'keys."} + name + "' is required (base64url)");
    }
    *into = k->get<std::string>();
  }
  return {std::move(s), {}};
}

// -- encryption (RFC 8291) ------------------------------------------------------------

encrypt_result encrypt(std::string_view plaintext, const subscription& to,
                       const encryption_seams& seams) {
  if (plaintext.size() > max_plaintext) {
    return {{}, "payload of " + std::to_string(plaintext.size()) + " bytes is over the "
                  + std::to_string(max_plaintext) + " bytes one Web Push message carries"};
  }
  try {
    auto receiver = decode_receiver(to);
    if (!receiver.error.empty()) {
      return {{}, "subscription: " + receiver.error};
    }
    auto sender = seams.sender_private_key.empty() ? crypto::generate_key()
                                                   : crypto::private_key(seams.sender_private_key);
    if (!sender) {
      return {{}, "the sender key given is not a P-256 scalar"};
    }
    auto salt = seams.salt.empty() ? crypto::random_bytes(16) : seams.salt;
    if (salt.size() != 16) {
      return {{}, "the salt must be 16 bytes"};
    }
    auto sender_point = crypto::public_point(sender);
    // RFC 8291 §3.3-3.4: the auth secret and both public keys bind the input key material.
    auto ecdh_secret = crypto::ecdh(sender, receiver.public_key);
    std::string key_info = "WebPush: info";
    key_info += '\0';
    key_info += receiver.point;
    key_info += sender_point;
    auto ikm = crypto::hkdf_sha256(receiver.auth_secret, ecdh_secret, key_info, 32);
    // RFC 8188 §2.2-2.3: content-encryption key and nonce from the salt.
    auto cek = crypto::hkdf_sha256(salt, ikm, std::string_view{"Content-Encoding: aes128gcm\0", 28}, 16);
    auto nonce = crypto::hkdf_sha256(salt, ikm, std::string_view{"Content-Encoding: nonce\0", 24}, 12);
    std::string record{plaintext};
    record += '\x02'; // the last (and only) record's delimiter; no further padding
    std::string body = salt + big_endian32(record_size);
    body += static_cast<char>(crypto::point_size);
    body += sender_point;
    body += crypto::aes128gcm_seal(cek, nonce, record);
    return {std::move(body), {}};
  } catch (const std::exception& e) {
    return {{}, e.what()};
  }
}

// -- VAPID (RFC 8292) -----------------------------------------------------------------

std::optional<std::string> origin_of(std::string_view url) {
  auto u = parse_url(url);
  if (!u || (u->scheme != "https" && u->scheme != "http") || u->host.empty()) {
    return std::nullopt;
  }
  auto host = lower(u->host);
  if (host.find(':') != std::string::npos) {
    host = "[" + host + "]"; // an IPv6 literal
  }
  auto origin = u->scheme + "://" + host;
  int default_port = u->scheme == "https" ? 443 : 80;
  if (u->port != 0 && u->port != default_port) {
    origin += ":" + std::to_string(u->port);
  }
  return origin;
}

header_result vapid_header(std::string_view endpoint, const vapid_keys& keys,
                           std::string_view subject, std::chrono::system_clock::time_point now,
                           std::chrono::seconds lifetime) {
  auto aud = origin_of(endpoint);
  if (!aud) {
    return {{}, "the endpoint is not an http(s) URL with a host"};
  }
  if (auto why = check_subject(subject); !why.empty()) {
    return {{}, "the VAPID subject " + why};
  }
  if (lifetime < 1s || lifetime > max_jwt_lifetime) {
    return {{}, "a VAPID token lives 1 s to 24 h"};
  }
  try {
    auto exp = std::chrono::duration_cast<std::chrono::seconds>((now + lifetime).time_since_epoch());
    nlohmann::json claims{{"aud", *aud}, {"exp", exp.count()}, {"sub", std::string{subject}}};
    static const std::string header = auth::base64url_encode(R"({"typ":"JWT","alg":"ES256"})");
    auto input = header + "." + auth::base64url_encode(claims.dump());
    auto token = input + "." + auth::base64url_encode(crypto::es256_sign(keys.key(), input));
    return {"vapid t=" + token + ", k=" + keys.public_key(), {}};
  } catch (const std::exception& e) {
    return {{}, e.what()};
  }
}

// -- the request (RFC 8030) -----------------------------------------------------------

std::string_view to_string(urgency u) {
  switch (u) {
    case urgency::very_low:
      return "very-low";
    case urgency::low:
      return "low";
    case urgency::normal:
      return "normal";
    case urgency::high:
      return "high";
  }
  return "normal";
}

std::optional<urgency> parse_urgency(std::string_view text) {
  for (auto u : {urgency::very_low, urgency::low, urgency::normal, urgency::high}) {
    if (to_string(u) == text) {
      return u;
    }
  }
  return std::nullopt;
}

request_result build_request(const subscription& to, std::string_view payload,
                             const vapid_keys& keys, std::string_view subject,
                             std::chrono::seconds ttl, urgency u,
                             std::chrono::system_clock::time_point now,
                             const encryption_seams& seams) {
  if (ttl < 0s || ttl > max_ttl) {
    return {std::nullopt, "TTL must be 0 to " + std::to_string(max_ttl.count()) + " seconds"};
  }
  auto authorization = vapid_header(to.endpoint, keys, subject, now);
  if (!authorization.ok()) {
    return {std::nullopt, authorization.error};
  }
  auto body = encrypt(payload, to, seams);
  if (!body.ok()) {
    return {std::nullopt, body.error};
  }
  request r;
  r.url = to.endpoint;
  r.headers = {
    {"Content-Encoding", "aes128gcm"},
    {"Content-Type", "application/octet-stream"},
    {"TTL", std::to_string(ttl.count())},
    {"Urgency", std::string{to_string(u)}},
    {"Authorization", std::move(authorization.value)},
  };
  r.body = std::move(body.body);
  return {std::move(r), {}};
}

// -- the answer -----------------------------------------------------------------------

std::optional<std::chrono::seconds> parse_retry_after(std::string_view value,
                                                      std::chrono::system_clock::time_point now) {
  auto b = value.find_first_not_of(" \t");
  auto e = value.find_last_not_of(" \t");
  if (b == std::string_view::npos) {
    return std::nullopt;
  }
  value = value.substr(b, e - b + 1);
  std::chrono::seconds delay{0};
  if (std::all_of(value.begin(), value.end(), [](unsigned char c) { return std::isdigit(c); })) {
    std::uint64_t n = 0;
    auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
    if (ec == std::errc::result_out_of_range) {
      n = static_cast<std::uint64_t>(max_jwt_lifetime.count());
    } else if (ec != std::errc{} || p != value.data() + value.size()) {
      return std::nullopt;
    }
    delay = std::chrono::seconds{static_cast<std::int64_t>(
      std::min<std::uint64_t>(n, static_cast<std::uint64_t>(max_jwt_lifetime.count())))};
  } else {
    if (value.size() > 64) {
      return std::nullopt;
    }
    std::string text{value};
    std::tm tm{};
    const char* end = nullptr;
    // RFC 9110 §5.6.7: IMF-fixdate, then the obsolete RFC 850 and asctime forms.
    for (const char* format : {"%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT",
                               "%a %b %e %H:%M:%S %Y"}) {
      tm = {};
      end = strptime(text.c_str(), format, &tm);
      if (end != nullptr && *end == '\0') {
        break;
      }
      end = nullptr;
    }
    if (end == nullptr) {
      return std::nullopt;
    }
    auto at = std::chrono::system_clock::from_time_t(timegm(&tm));
    delay = std::chrono::duration_cast<std::chrono::seconds>(at - now);
    delay = std::clamp(delay, std::chrono::seconds{0}, max_jwt_lifetime);
  }
  return delay;
}

outcome classify(int status, const header_list& headers, std::string_view body,
                 std::chrono::system_clock::time_point now) {
  outcome out;
  for (auto& [name, value] : headers) {
    if (lower(name) == "retry-after") {
      out.retry_after = parse_retry_after(value, now);
    }
  }
  auto said = body.empty() ? std::string{} : ": " + http::excerpt(body, 200);
  auto code = "HTTP " + std::to_string(status);
  if (status >= 200 && status < 300) {
    out.kind = outcome_kind::accepted;
    out.reason = code + " accepted by the push service";
  } else if (status == 404 || status == 410) {
    out.kind = outcome_kind::gone;
    out.reason = code + " the subscription has expired or was unsubscribed" + said;
  } else if (status == 429) {
    out.kind = outcome_kind::transient;
    out.reason = code + " rate limited by the push service" + said;
  } else if (status == 408 || status >= 500) {
    out.kind = outcome_kind::transient;
    out.service_failure = true;
    out.reason = code + " the push service failed" + said;
  } else if (status == 400) {
    out.kind = outcome_kind::permanent;
    out.reason = code + " the push service refused the request as malformed" + said;
  } else if (status == 401 || status == 403) {
    out.kind = outcome_kind::permanent;
    out.reason = code + " the push service refused the VAPID authorization (is the "
                        "subscription made with another application server key?)" + said;
  } else if (status == 413) {
    out.kind = outcome_kind::permanent;
    out.reason = code + " the payload is too large for the push service" + said;
  } else if (status >= 400 && status < 500) {
    out.kind = outcome_kind::permanent;
    out.reason = code + " refused by the push service" + said;
  } else {
    out.kind = outcome_kind::transient;
    out.reason = code + " unexpected answer from the push service" + said;
  }
  return out;
}

} // namespace herald::webpush
