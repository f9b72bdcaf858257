#include "adapters/push/fcm.hpp"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <fstream>
#include <memory>
#include <sstream>

namespace herald::push::fcm {

namespace {

using json = nlohmann::json;

std::string base64url(std::string_view bytes) {
  static const char* alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(bytes[k]); };
  for (; i + 3 <= bytes.size(); i += 3) {
    unsigned v = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += alphabet[v & 63];
  }
  if (bytes.size() - i == 1) {
    unsigned v = byte(i) << 16;
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
  } else if (bytes.size() - i == 2) {
    unsigned v = (byte(i) << 16) | (byte(i + 1) << 8);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
  }
  return out;
}

struct pkey_free {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;

/// The PEM's RSA private key, or null.
pkey_ptr read_rsa_key(const std::string& pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio{
    BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free};
  if (!bio) {
    return nullptr;
  }
  pkey_ptr key{PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr)};
  if (!key || EVP_PKEY_base_id(key.get()) != EVP_PKEY_RSA) {
    return nullptr;
  }
  return key;
}

bool is_http_url(const std::string& s) {
  auto rest = [&](std::string_view scheme) {
    return s.rfind(scheme, 0) == 0 && s.size() > scheme.size();
  };
  return rest("https://") || rest("http://");
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

} // namespace

// -- credentials ---------------------------------------------------------------

account_result parse_service_account(std::string_view json_text) {
  auto doc = json::parse(json_text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    return {std::nullopt, "the service-account file is not a JSON object"};
  }
  auto field = [&](const char* name, std::string& out) -> std::string {
    auto it = doc.find(name);
    if (it == doc.end()) {
      return std::string{"field '"} + name + "' is missing";
    }
    if (!it->is_string() || it->get_ref<const std::string&>().empty()) {
      return std::string{"field '"} + name + "' must be a non-empty string";
    }
    out = it->get<std::string>();
    return {};
  };
  std::string type;
  service_account a;
  for (auto [name, out] : {std::pair<const char*, std::string*>{"type", &type},
                           {"project_id", &a.project_id},
                           {"private_key_id", &a.private_key_id},
                           {"private_key", &a.private_key},
                           {"client_email", &a.client_email},
                           {"token_uri", &a.token_uri}}) {
    if (auto e = field(name, *out); !e.empty()) {
      return {std::nullopt, e};
    }
  }
  if (type != "service_account") {
    return {std::nullopt, "field 'type' must be \"service_account\", got \"" + type + "\""};
  }
  if (!is_http_url(a.token_uri)) {
    return {std::nullopt, "field 'token_uri' must be an https:// (or http://) URL"};
  }
  if (!read_rsa_key(a.private_key)) {
    return {std::nullopt, "field 'private_key' is not a PEM RSA private key"};
  }
  return {std::move(a), {}};
}

account_result load_service_account(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  if (!in) {
    return {std::nullopt, "cannot read the FCM credentials file '" + path + "'"};
  }
  std::ostringstream text;
  text << in.rdbuf();
  auto r = parse_service_account(text.str());
  if (!r.account) {
    r.error = "FCM credentials file '" + path + "': " + r.error;
  }
  return r;
}

assertion_result assertion(const service_account& account,
                           std::chrono::system_clock::time_point now) {
  auto key = read_rsa_key(account.private_key);
  if (!key) {
    return {{}, "field 'private_key' is not a PEM RSA private key"};
  }
  auto iat = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  json header{{"alg", "RS256"}, {"typ", "JWT"}, {"kid", account.private_key_id}};
  json claims{{"iss", account.client_email},
              {"scope", messaging_scope},
              {"aud", account.token_uri},
              {"iat", iat},
              {"exp", iat + assertion_lifetime.count()}};
  auto signing_input = base64url(header.dump()) + "." + base64url(claims.dump());

  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx{EVP_MD_CTX_new(),
                                                               &EVP_MD_CTX_free};
  std::size_t length = 0;
  if (!ctx
      || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) != 1
      || EVP_DigestSign(ctx.get(), nullptr, &length,
                        reinterpret_cast<const unsigned char*>(signing_input.data()),
                        signing_input.size())
           != 1) {
    return {{}, "signing the assertion failed"};
  }
  std::string signature(length, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &length,
                     reinterpret_cast<const unsigned char*>(signing_input.data()),
                     signing_input.size())
      != 1) {
    return {{}, "signing the assertion failed"};
  }
  signature.resize(length);
  return {signing_input + "." + base64url(signature), {}};
}

http::client_request token_request(const service_account& account, const std::string& jwt) {
  http::client_request r;
  r.method = "POST";
  r.url = account.token_uri;
  r.headers = {{"Content-Type", "application/x-www-form-urlencoded"},
               {"Accept", "application/json"}};
  r.body = "grant_type=" + http::form_encode(std::string{jwt_bearer_grant})
           + "&assertion=" + http::form_encode(jwt);
  return r;
}

token_result read_token_response(const http::client_response& answer) {
  token_result r;
  if (!answer.answered()) {
    r.error = std::string{"token endpoint unreachable ("} + http::to_string(answer.error)
              + "): " + answer.error_text;
    return r;
  }
  auto doc = json::parse(answer.body, nullptr, false);
  if (answer.status != 200) {
    r.error = "token endpoint answered " + std::to_string(answer.status);
    if (doc.is_object()) {
      if (auto e = doc.find("error"); e != doc.end() && e->is_string()) {
        r.error += ": " + e->get<std::string>();
      }
      if (auto d = doc.find("error_description"); d != doc.end() && d->is_string()) {
        r.error += " (" + d->get<std::string>() + ")";
      }
    }
    r.credentials_rejected = answer.status == 400 || answer.status == 401;
    return r;
  }
  if (!doc.is_object()) {
    r.error = "token endpoint answered 200 without a JSON object";
    return r;
  }
  auto token = doc.find("access_token");
  auto expires = doc.find("expires_in");
  auto type = doc.find("token_type");
  if (token == doc.end() || !token->is_string() || token->get_ref<const std::string&>().empty()) {
    r.error = "token endpoint's answer has no 'access_token'";
    return r;
  }
  if (expires == doc.end() || !expires->is_number_integer() || expires->get<long long>() <= 0) {
    r.error = "token endpoint's answer has no positive integer 'expires_in'";
    return r;
  }
  if (type == doc.end() || !type->is_string() || lower(type->get<std::string>()) != "bearer") {
    r.error = "token endpoint's answer has a 'token_type' other than Bearer";
    return r;
  }
  r.token = access_token{token->get<std::string>(), std::chrono::seconds{expires->get<long long>()}};
  return r;
}

// -- the access token cache ----------------------------------------------------

token_cache::token_cache(std::chrono::seconds margin) : margin_(margin) {}

std::optional<std::string> token_cache::current(time_point now) const {
  if (token_.empty() || now >= refresh_at_) {
    return std::nullopt;
  }
  return token_;
}

void token_cache::store(const access_token& token, time_point fetched_at) {
  auto margin = std::min(margin_, token.expires_in / 3);
  token_ = token.value;
  refresh_at_ = fetched_at + token.expires_in - margin;
}

void token_cache::invalidate(const std::string& token) {
  if (token == token_) {
    token_.clear();
  }
}

// -- messages ------------------------------------------------------------------

std::map<std::string, std::string> string_data(const nlohmann::json& data) {
  std::map<std::string, std::string> out;
  if (!data.is_object()) {
    return out;
  }
  for (auto& [key, value] : data.items()) {
    out[key] = value.is_string() ? value.get<std::string>() : value.dump();
  }
  return out;
}

message_result build_message(const std::string& device_token, const content& c) {
  if (device_token.empty()) {
    return {{}, "the device token is empty"};
  }
  if (!c.link.empty() && (c.link.rfind("https://", 0) != 0 || c.link.size() <= 8)) {
    return {{}, "the link must be an https:// URL (FCM's webpush.fcm_options.link)"};
  }
  json notification{{"title", c.title}, {"body", c.body}};
  if (!c.image.empty()) {
    notification["image"] = c.image;
  }
  json message{{"token", device_token}, {"notification", std::move(notification)}};

  auto data = c.data;
  if (!c.link.empty()) {
    data.try_emplace("link", c.link);
  }
  if (!data.empty()) {
    message["data"] = data; // std::map<string, string> → an object of strings
  }

  bool high = c.prio == priority::high;
  json android{{"priority", high ? "high" : "normal"}};
  if (!c.click_action.empty()) {
    android["notification"] = {{"click_action", c.click_action}};
  }
  message["android"] = std::move(android);
  message["apns"] = {{"headers", {{"apns-priority", high ? "10" : "5"}}}};
  if (!c.link.empty()) {
    message["webpush"] = {{"fcm_options", {{"link", c.link}}}};
  }
  return {json{{"message", std::move(message)}}.dump(), {}};
}

std::string send_url(std::string_view endpoint, std::string_view project_id) {
  std::string base{endpoint};
  while (!base.empty() && base.back() == '/') {
    base.pop_back();
  }
  return base + "/v1/projects/" + std::string{project_id} + "/messages:send";
}

http::client_request send_request(std::string_view endpoint, std::string_view project_id,
                                  const std::string& access_token,
                                  const std::string& message_json) {
  http::client_request r;
  r.method = "POST";
  r.url = send_url(endpoint, project_id);
  r.headers = {{"Authorization", "Bearer " + access_token},
               {"Content-Type", "application/json; charset=UTF-8"}};
  r.body = message_json;
  return r;
}

// -- outcomes ------------------------------------------------------------------

const char* to_string(verdict v) {
  switch (v) {
    case verdict::accepted:
      return "accepted";
    case verdict::device_gone:
      return "device_gone";
    case verdict::message_rejected:
      return "message_rejected";
    case verdict::token_rejected:
      return "token_rejected";
    case verdict::wrong_sender:
      return "wrong_sender";
    case verdict::transient:
      return "transient";
  }
  return "transient";
}

send_outcome classify(int status, const std::map<std::string, std::string>& headers,
                      const std::string& body) {
  send_outcome out;
  auto doc = json::parse(body, nullptr, false);
  if (status == 200) {
    if (doc.is_object() && doc.contains("name") && doc["name"].is_string()) {
      out.result = verdict::accepted;
      out.message_name = doc["name"].get<std::string>();
    } else {
      // A 200 that is not FCM's answer (a proxy's page?): nothing says it was sent.
      out.detail = "FCM answered 200 without a message name";
    }
    return out;
  }

  // Google's error shape; any part may be missing.
  std::string error_code; // FcmError.errorCode
  std::string status_name;
  std::string message;
  bool about_token = false;
  if (doc.is_object() && doc.contains("error") && doc["error"].is_object()) {
    auto& e = doc["error"];
    if (e.contains("status") && e["status"].is_string()) {
      status_name = e["status"].get<std::string>();
    }
    if (e.contains("message") && e["message"].is_string()) {
      message = e["message"].get<std::string>();
    }
    if (e.contains("details") && e["details"].is_array()) {
      for (auto& d : e["details"]) {
        if (!d.is_object() || !d.contains("@type") || !d["@type"].is_string()) {
          continue;
        }
        auto type = d["@type"].get<std::string>();
        if (type == "type.googleapis.com/google.firebase.fcm.v1.FcmError" && d.contains("errorCode")
            && d["errorCode"].is_string()) {
          error_code = d["errorCode"].get<std::string>();
        } else if (type == "type.googleapis.com/google.rpc.BadRequest"
                   && d.contains("fieldViolations") && d["fieldViolations"].is_array()) {
          for (auto& v : d["fieldViolations"]) {
            if (v.is_object() && v.contains("field") && v["field"].is_string()
                && v["field"].get<std::string>() == "message.token") {
              about_token = true;
            }
          }
        }
      }
    }
  }
  if (message.find("registration token") != std::string::npos) {
    about_token = true;
  }
  out.detail = "FCM " + std::to_string(status);
  auto code = !error_code.empty() ? error_code : status_name;
  if (!code.empty()) {
    out.detail += " " + code;
  }
  if (!message.empty()) {
    out.detail += ": " + message.substr(0, 200);
  }

  if (auto it = headers.find("retry-after"); it != headers.end()) {
    long long seconds = 0;
    auto& v = it->second;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), seconds);
    if (ec == std::errc{} && p == v.data() + v.size() && seconds >= 0) {
      out.retry_after = std::chrono::seconds{std::min<long long>(seconds, 86400)};
    }
  }

  if (status == 404 && error_code == "UNREGISTERED") {
    out.result = verdict::device_gone;
  } else if (status == 400) {
    bool invalid_argument = error_code == "INVALID_ARGUMENT" || status_name == "INVALID_ARGUMENT";
    out.result = invalid_argument && about_token ? verdict::device_gone : verdict::message_rejected;
  } else if (status == 401) {
    out.result = error_code == "THIRD_PARTY_AUTH_ERROR" ? verdict::message_rejected
                                                        : verdict::token_rejected;
  } else if (status == 403 && error_code == "SENDER_ID_MISMATCH") {
    out.result = verdict::wrong_sender;
  } else {
    out.result = verdict::transient;
  }
  return out;
}

send_outcome classify(const http::client_response& answer) {
  if (!answer.answered()) {
    send_outcome out;
    out.result = verdict::transient;
    out.detail = std::string{"FCM unreachable ("} + http::to_string(answer.error)
                 + "): " + answer.error_text;
    return out;
  }
  return classify(answer.status, answer.headers, answer.body);
}

} // namespace herald::push::fcm
