#include "support/fake_webpush.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <stdexcept>

#include "adapters/push/webpush_crypto.hpp"
#include "runtime/auth/base64.hpp"
#include "support/free_port.hpp"

namespace herald::test {

namespace crypto = webpush::crypto;

struct fake_webpush::subscriber {
  std::string endpoint;
  crypto::p256_key key; ///< the user agent's key pair
  std::string point;    ///< its public point (ua_public)
  std::string auth;     ///< the 16-byte auth secret
  int status = 201;
  std::string retry_after;
  std::string body; ///< answered instead of the JSON one when not empty
  std::size_t attempts = 0;
  std::vector<received_push> received;
};

namespace {

using herald::test::free_port;

http::response json_answer(int status, const std::string& message) {
  return {status, nlohmann::json{{"code", status}, {"message", message}}.dump(),
          "application/json", {}};
}

std::string trim(std::string s) {
  auto b = s.find_first_not_of(" \t");
  auto e = s.find_last_not_of(" \t");
  return b == std::string::npos ? std::string{} : s.substr(b, e - b + 1);
}

/// The receiving side of RFC 8291 (with RFC 8188's aes128gcm), for one record: the
/// plaintext, or why the body does not decrypt.
struct decrypted {
  std::optional<std::string> plaintext;
  std::string error;
};

decrypted decrypt(const std::string& body, const crypto::p256_key& ua_key,
                  const std::string& ua_public, const std::string& auth_secret) {
  // RFC 8188 §2.1: salt(16) | rs(uint32) | idlen(uint8) | keyid(idlen).
  if (body.size() < 21) {
    return {std::nullopt, "body shorter than the aes128gcm header"};
  }
  auto salt = body.substr(0, 16);
  std::uint32_t rs = 0;
  for (int i = 16; i < 20; ++i) {
    rs = rs << 8 | static_cast<unsigned char>(body[i]);
  }
  auto idlen = static_cast<unsigned char>(body[20]);
  // RFC 8291 §4: the key id is the sender's uncompressed P-256 public key.
  if (idlen != 65 || body.size() < 21u + idlen) {
    return {std::nullopt, "the key id must be a 65-byte public key, got idlen "
                            + std::to_string(idlen)};
  }
  if (rs < 18) {
    return {std::nullopt, "record size " + std::to_string(rs) + " is below 18"};
  }
  auto as_public = body.substr(21, idlen);
  auto record = body.substr(21 + idlen);
  // RFC 8291 §4: one record only, so it must fit in rs and carry at least the tag.
  if (record.size() > rs || record.size() < 17) {
    return {std::nullopt, "expected exactly one record of 17 to rs bytes, got "
                            + std::to_string(record.size())};
  }
  auto as_key = crypto::public_key(as_public);
  if (!as_key) {
    return {std::nullopt, "the key id is not a point on P-256"};
  }
  // RFC 8291 §3.3, §3.4.
  auto ecdh_secret = crypto::ecdh(ua_key, as_key);
  std::string key_info = std::string{"WebPush: info"} + '\0' + ua_public + as_public;
  auto ikm = crypto::hkdf_sha256(auth_secret, ecdh_secret, key_info, 32);
  // RFC 8188 §2.2, §2.3 (record 0: the nonce is used as derived).
  auto cek = crypto::hkdf_sha256(salt, ikm, std::string{"Content-Encoding: aes128gcm"} + '\0', 16);
  auto nonce = crypto::hkdf_sha256(salt, ikm, std::string{"Content-Encoding: nonce"} + '\0', 12);
  auto padded = crypto::aes128gcm_open(cek, nonce, record);
  if (!padded) {
    return {std::nullopt, "the record does not decrypt (authentication tag mismatch)"};
  }
  // RFC 8188 §2: data, then a delimiter (2 for the last record), then zero padding.
  auto end = padded->find_last_not_of('\0');
  if (end == std::string::npos || (*padded)[end] != '\x02') {
    return {std::nullopt, "the last record's delimiter (0x02) is missing"};
  }
  return {padded->substr(0, end), {}};
}

} // namespace

fake_webpush::fake_webpush() {
  std::string why;
  for (int attempt = 0; attempt < 5; ++attempt) {
    port_ = free_port();
    http::limits lim;
    lim.max_body_bytes = 64 * 1024; // the fake itself answers 413 past 4096
    lim.threads = 1;
    lim.json_bodies_only = false; // a push message is application/octet-stream
    server_ = std::make_unique<http::server>("127.0.0.1", port_, lim, json_answer);
    server_->route("POST", "/push/{id}", [this](http::request&& req, http::reply_fn reply) {
      reply(handle(req));
    });
    why = server_->open();
    if (why.empty()) {
      return;
    }
  }
  throw std::runtime_error("fake Web Push service: " + why);
}

fake_webpush::~fake_webpush() {
  server_->close();
}

std::string fake_webpush::origin() const {
  return "http://127.0.0.1:" + std::to_string(port_);
}

nlohmann::json fake_webpush::subscribe() {
  static std::atomic<int> counter{0};
  auto s = std::make_shared<subscriber>();
  s->key = crypto::generate_key();
  s->point = crypto::public_point(s->key);
  s->auth = crypto::random_bytes(16);
  auto id = auth::base64url_encode(crypto::random_bytes(12)) + std::to_string(++counter);
  s->endpoint = origin() + "/push/" + id;
  nlohmann::json j{{"endpoint", s->endpoint},
                   {"expirationTime", nullptr},
                   {"keys",
                    {{"p256dh", auth::base64url_encode(s->point)},
                     {"auth", auth::base64url_encode(s->auth)}}}};
  std::lock_guard lock{mtx_};
  subscribers_[id] = std::move(s);
  return j;
}

void fake_webpush::answer(const std::string& endpoint, int status,
                          const std::string& retry_after, const std::string& body) {
  std::lock_guard lock{mtx_};
  for (auto& [id, s] : subscribers_) {
    if (s->endpoint == endpoint) {
      s->status = status;
      s->retry_after = retry_after;
      s->body = body;
      return;
    }
  }
  throw std::invalid_argument("fake Web Push service: no subscription " + endpoint);
}

void fake_webpush::expect_key(const std::string& public_key) {
  std::lock_guard lock{mtx_};
  expected_key_ = public_key;
}

std::vector<received_push> fake_webpush::received(const std::string& endpoint) const {
  std::lock_guard lock{mtx_};
  for (auto& [id, s] : subscribers_) {
    if (s->endpoint == endpoint) {
      return s->received;
    }
  }
  return {};
}

std::vector<push_refusal> fake_webpush::refusals() const {
  std::lock_guard lock{mtx_};
  return refusals_;
}

std::size_t fake_webpush::attempts(const std::string& endpoint) const {
  std::lock_guard lock{mtx_};
  for (auto& [id, s] : subscribers_) {
    if (s->endpoint == endpoint) {
      return s->attempts;
    }
  }
  return 0;
}

std::string fake_webpush::check_vapid(const std::string& authorization,
                                      received_push& out) const {
  // RFC 8292 §3: Authorization: vapid t=<JWT>, k=<base64url public key>.
  auto space = authorization.find(' ');
  if (space == std::string::npos || authorization.substr(0, space) != "vapid") {
    return "Authorization must use the vapid scheme";
  }
  std::map<std::string, std::string> params;
  std::size_t at = space + 1;
  while (at <= authorization.size()) {
    auto comma = authorization.find(',', at);
    auto part = trim(authorization.substr(at, comma == std::string::npos ? std::string::npos
                                                                          : comma - at));
    auto eq = part.find('=');
    if (eq == std::string::npos) {
      return "malformed vapid parameter '" + part + "'";
    }
    params[part.substr(0, eq)] = part.substr(eq + 1);
    if (comma == std::string::npos) {
      break;
    }
    at = comma + 1;
  }
  if (!params.count("t") || !params.count("k")) {
    return "vapid needs both t= and k=";
  }
  auto point = auth::base64url_decode(params["k"]);
  auto key = point ? crypto::public_key(*point) : nullptr;
  if (!key) {
    return "k is not base64url of an uncompressed P-256 point";
  }
  out.vapid_key = params["k"];
  auto& token = params["t"];
  auto first = token.find('.');
  auto second = first == std::string::npos ? first : token.find('.', first + 1);
  if (second == std::string::npos || token.find('.', second + 1) != std::string::npos) {
    return "the JWT is not three dot-separated parts";
  }
  auto header_text = auth::base64url_decode(token.substr(0, first));
  auto claims_text = auth::base64url_decode(token.substr(first + 1, second - first - 1));
  auto signature = auth::base64url_decode(token.substr(second + 1));
  if (!header_text || !claims_text || !signature) {
    return "the JWT's parts are not base64url";
  }
  auto header = nlohmann::json::parse(*header_text, nullptr, false);
  if (!header.is_object() || header.value("alg", "") != "ES256") {
    return "the JWT header must name alg ES256";
  }
  if (header.contains("typ") && header["typ"] != "JWT") {
    return "the JWT header's typ must be JWT";
  }
  if (signature->size() != 64) {
    return "the ES256 signature must be 64 bytes (r || s), got " + std::to_string(signature->size());
  }
  if (!crypto::es256_verify(key, token.substr(0, second), *signature)) {
    return "the JWT's signature does not verify with k";
  }
  auto claims = nlohmann::json::parse(*claims_text, nullptr, false);
  if (!claims.is_object()) {
    return "the JWT claims are not a JSON object";
  }
  if (!claims.contains("aud") || claims["aud"] != origin()) {
    return "aud must be " + origin() + ", got " + claims.value("aud", nlohmann::json{}).dump();
  }
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
               .count();
  if (!claims.contains("exp") || !claims["exp"].is_number_integer()) {
    return "exp is missing or not an integer";
  }
  auto exp = claims["exp"].get<std::int64_t>();
  if (exp <= now) {
    return "the JWT has expired (exp " + std::to_string(exp) + ", now " + std::to_string(now) + ")";
  }
  if (exp > now + 24 * 3600) {
    return "exp is more than 24 hours ahead";
  }
  auto sub = claims.value("sub", "");
  if (sub.rfind("mailto:", 0) != 0 && sub.rfind("https:", 0) != 0) {
    return "sub must be a mailto: or https: contact, got '" + sub + "'";
  }
  out.claims = std::move(claims);
  return {};
}

http::response fake_webpush::handle(const http::request& req) {
  auto id = req.params.at("id");
  auto endpoint = origin() + "/push/" + id;
  std::shared_ptr<subscriber> s;
  std::string expected_key;
  {
    std::lock_guard lock{mtx_};
    if (auto i = subscribers_.find(id); i != subscribers_.end()) {
      s = i->second;
    }
    expected_key = expected_key_;
  }
  auto refuse = [&](int status, const std::string& reason) {
    std::lock_guard lock{mtx_};
    refusals_.push_back({endpoint, status, reason});
    return json_answer(status, reason);
  };
  if (!s) {
    return refuse(404, "no such subscription");
  }
  received_push push;
  if (auto why = check_vapid(req.header("authorization"), push); !why.empty()) {
    return refuse(401, why);
  }
  if (!expected_key.empty() && push.vapid_key != expected_key) {
    return refuse(403, "k is not the application server key this subscription is restricted to");
  }
  if (req.header("content-encoding") != "aes128gcm") {
    return refuse(400, "Content-Encoding must be aes128gcm, got '" + req.header("content-encoding")
                         + "'");
  }
  push.ttl = req.header("ttl");
  if (push.ttl.empty() || push.ttl.size() > 10
      || push.ttl.find_first_not_of("0123456789") != std::string::npos) {
    return refuse(400, "TTL must be a non-negative integer, got '" + push.ttl + "'");
  }
  push.urgency = req.header("urgency");
  if (!push.urgency.empty() && push.urgency != "very-low" && push.urgency != "low"
      && push.urgency != "normal" && push.urgency != "high") {
    return refuse(400, "Urgency must be very-low, low, normal or high");
  }
  if (req.body.size() > 4096) {
    return refuse(413, "the body is over 4096 bytes");
  }
  auto plain = decrypt(req.body, s->key, s->point, s->auth);
  if (!plain.plaintext) {
    return refuse(400, plain.error);
  }
  push.plaintext = std::move(*plain.plaintext);
  std::lock_guard lock{mtx_};
  ++s->attempts;
  if (s->status == 201) {
    s->received.push_back(std::move(push));
    http::response r{201, "", "text/plain", {}};
    r.headers.emplace_back("Location", endpoint + "/messages/" + std::to_string(s->received.size()));
    return r;
  }
  auto r = s->body.empty() ? json_answer(s->status, "answer chosen by the test")
                           : http::response{s->status, s->body, "text/plain", {}};
  if (!s->retry_after.empty()) {
    r.headers.emplace_back("Retry-After", s->retry_after);
  }
  return r;
}

} // namespace herald::test
