#include "support/fake_fcm.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include <atomic>
#include <cctype>
#include <fstream>
#include <future>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <utility>

#include "runtime/auth/base64.hpp"
#include "support/rs256.hpp"

namespace herald::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using json = nlohmann::json;

namespace {

constexpr const char* scope = "https://www.googleapis.com/auth/firebase.messaging";
constexpr const char* grant = "urn:ietf:params:oauth:grant-type:jwt-bearer";

std::string percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1]))
               && std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string{s.substr(i + 1, 2)}, nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::map<std::string, std::string> parse_form(const std::string& body) {
  std::map<std::string, std::string> out;
  std::size_t start = 0;
  while (start <= body.size()) {
    auto end = body.find('&', start);
    if (end == std::string::npos) {
      end = body.size();
    }
    auto pair = std::string_view{body}.substr(start, end - start);
    auto eq = pair.find('=');
    if (eq != std::string_view::npos) {
      out[percent_decode(pair.substr(0, eq))] = percent_decode(pair.substr(eq + 1));
    }
    start = end + 1;
  }
  return out;
}

std::string random_token() {
  unsigned char bytes[24];
  RAND_bytes(bytes, sizeof bytes);
  return "ya29.fake-" + auth::base64url_encode({reinterpret_cast<char*>(bytes), sizeof bytes});
}

json google_error(int code, const std::string& status, const std::string& message,
                  const std::string& fcm_code = {}, const std::string& bad_field = {}) {
  json details = json::array();
  if (!fcm_code.empty()) {
    details.push_back({{"@type", "type.googleapis.com/google.firebase.fcm.v1.FcmError"},
                       {"errorCode", fcm_code}});
  }
  if (!bad_field.empty()) {
    details.push_back({{"@type", "type.googleapis.com/google.rpc.BadRequest"},
                       {"fieldViolations", {{{"field", bad_field}, {"description", message}}}}});
  }
  json e{{"code", code}, {"message", message}, {"status", status}};
  if (!details.empty()) {
    e["details"] = details;
  }
  return {{"error", e}};
}

using response = bhttp::response<bhttp::string_body>;

response json_answer(int status, const json& body) {
  response r{static_cast<bhttp::status>(status), 11};
  r.set(bhttp::field::content_type, "application/json; charset=UTF-8");
  r.body() = body.dump();
  return r;
}

} // namespace

struct fake_fcm::impl : std::enable_shared_from_this<impl> {
  std::string project_id;
  rsa_key_pair key = make_rsa_key();
  std::string private_key_id = "fake-kid-1";
  std::string client_email;
  int port = 0;

  tls_files tls;
  std::optional<asio::ssl::context> tls_context;

  asio::io_context ioc;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  tcp::acceptor acceptor{ioc};
  std::thread io_thread;
  std::vector<std::weak_ptr<tcp::socket>> sockets; // on the I/O thread only
  std::vector<std::shared_ptr<void>> held; // connections left unanswered (answer::silent)
  bool hold_this = false;                   // set by send() for the request in hand

  mutable std::mutex mtx;
  std::chrono::seconds lifetime{3600};
  std::chrono::seconds offset{0};
  std::map<std::string, std::chrono::steady_clock::time_point> tokens; // issued → expiry
  std::set<std::string> revoked;
  bool refuse_all = false;
  std::map<std::string, std::pair<answer, std::chrono::seconds>> answers;
  std::vector<received> got;
  std::vector<std::string> problems;
  std::size_t token_requests = 0;
  std::size_t unauthorized = 0;
  std::atomic<std::size_t> accepted{0};
  std::size_t sequence = 0;

  std::string endpoint() const {
    return (tls_context ? "https://127.0.0.1:" : "http://127.0.0.1:") + std::to_string(port);
  }
  std::string token_uri() const { return endpoint() + "/token"; }

  std::chrono::steady_clock::time_point now() const {
    return std::chrono::steady_clock::now() + offset;
  }
  /// Wall-clock seconds for the assertion's iat and exp (not moved by advance(): the
  /// sender signs with the real time).
  std::int64_t wall_now() const {
    return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
  }

  // -- listening (I/O thread) ---

  void listen() {
    tcp::endpoint at{asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)};
    acceptor.open(at.protocol());
    acceptor.set_option(tcp::acceptor::reuse_address{true});
    acceptor.bind(at);
    acceptor.listen();
    port = acceptor.local_endpoint().port();
    accept();
  }

  void accept() {
    acceptor.async_accept(ioc, [self = shared_from_this()](beast::error_code ec, tcp::socket s) {
      if (ec) {
        return; // closed (go_down, stop)
      }
      ++self->accepted;
      if (self->tls_context) {
        auto stream = std::make_shared<beast::ssl_stream<beast::tcp_stream>>(std::move(s),
                                                                             *self->tls_context);
        self->track(stream);
        stream->async_handshake(asio::ssl::stream_base::server,
                                [self, stream](beast::error_code e) {
                                  if (!e) {
                                    self->read(stream, std::make_shared<beast::flat_buffer>());
                                  }
                                });
      } else {
        auto stream = std::make_shared<beast::tcp_stream>(std::move(s));
        self->track(stream);
        self->read(stream, std::make_shared<beast::flat_buffer>());
      }
      self->accept();
    });
  }

  /// Remembers the stream's socket, to close it on go_down().
  template <class Stream>
  void track(const std::shared_ptr<Stream>& stream) {
    sockets.push_back(
      std::shared_ptr<tcp::socket>(stream, &beast::get_lowest_layer(*stream).socket()));
  }

  template <class Stream>
  void read(std::shared_ptr<Stream> stream, std::shared_ptr<beast::flat_buffer> buf) {
    auto req = std::make_shared<bhttp::request<bhttp::string_body>>();
    bhttp::async_read(*stream, *buf, *req,
                      [self = shared_from_this(), stream, buf, req](beast::error_code ec,
                                                                    std::size_t) {
                        if (ec) {
                          beast::error_code ignored;
                          beast::get_lowest_layer(*stream).socket().close(ignored);
                          return;
                        }
                        auto res = std::make_shared<response>(self->handle(*req));
                        if (std::exchange(self->hold_this, false)) {
                          self->held.push_back(stream); // never answered, kept open
                          return;
                        }
                        res->keep_alive(req->keep_alive());
                        res->prepare_payload();
                        bhttp::async_write(*stream, *res,
                                           [self, stream, buf, res](beast::error_code e,
                                                                    std::size_t) {
                                             if (e || !res->keep_alive()) {
                                               beast::error_code ignored;
                                               beast::get_lowest_layer(*stream).socket().close(
                                                 ignored);
                                               return;
                                             }
                                             self->read(stream, buf);
                                           });
                      });
  }

  void close_all() {
    beast::error_code ignored;
    acceptor.close(ignored);
    for (auto& w : sockets) {
      if (auto s = w.lock()) {
        s->close(ignored);
      }
    }
    sockets.clear();
    held.clear();
  }

  /// Runs `f` on the I/O thread and waits for it.
  template <class F>
  void on_io(F f) {
    std::promise<void> done;
    asio::post(ioc, [&] {
      f();
      done.set_value();
    });
    done.get_future().wait();
  }

  // -- the protocol (I/O thread; state under mtx) ---

  response handle(const bhttp::request<bhttp::string_body>& req) {
    std::string target{req.target()};
    if (req.method() == bhttp::verb::post && target == "/token") {
      return token(req);
    }
    auto prefix = "/v1/projects/" + project_id + "/messages:send";
    if (req.method() == bhttp::verb::post && target == prefix) {
      return send(req);
    }
    std::lock_guard lock{mtx};
    problems.push_back("unknown request " + std::string{req.method_string()} + " " + target);
    return json_answer(404, google_error(404, "NOT_FOUND", "no such resource: " + target));
  }

  response token_refusal(const std::string& why) {
    problems.push_back("token request: " + why);
    return json_answer(400, {{"error", "invalid_grant"}, {"error_description", why}});
  }

  response token(const bhttp::request<bhttp::string_body>& req) {
    std::lock_guard lock{mtx};
    ++token_requests;
    if (req[bhttp::field::content_type] != "application/x-www-form-urlencoded") {
      return token_refusal("Content-Type is not application/x-www-form-urlencoded");
    }
    auto form = parse_form(req.body());
    if (form["grant_type"] != grant) {
      return token_refusal("grant_type is '" + form["grant_type"] + "'");
    }
    const auto& jwt = form["assertion"];
    auto dot1 = jwt.find('.');
    auto dot2 = dot1 == std::string::npos ? dot1 : jwt.find('.', dot1 + 1);
    if (dot2 == std::string::npos) {
      return token_refusal("the assertion is not a JWT");
    }
    auto header_bytes = auth::base64url_decode(std::string_view{jwt}.substr(0, dot1));
    auto claims_bytes = auth::base64url_decode(std::string_view{jwt}.substr(dot1 + 1, dot2 - dot1 - 1));
    auto signature = auth::base64url_decode(std::string_view{jwt}.substr(dot2 + 1));
    if (!header_bytes || !claims_bytes || !signature) {
      return token_refusal("the assertion is not base64url");
    }
    auto header = json::parse(*header_bytes, nullptr, false);
    auto claims = json::parse(*claims_bytes, nullptr, false);
    if (!header.is_object() || !claims.is_object()) {
      return token_refusal("the assertion's parts are not JSON objects");
    }
    if (header.value("alg", "") != "RS256" || header.value("typ", "") != "JWT"
        || header.value("kid", "") != private_key_id) {
      return token_refusal("header is " + header.dump());
    }
    if (!verify_rs256(key.public_pem, std::string_view{jwt}.substr(0, dot2), *signature)) {
      return token_refusal("Invalid JWT Signature.");
    }
    if (claims.value("iss", "") != client_email || claims.value("aud", "") != token_uri()
        || claims.value("scope", "") != scope) {
      return token_refusal("iss, aud or scope wrong in " + claims.dump());
    }
    if (!claims.contains("iat") || !claims["iat"].is_number_integer() || !claims.contains("exp")
        || !claims["exp"].is_number_integer()) {
      return token_refusal("iat and exp must be integers");
    }
    auto iat = claims["iat"].get<std::int64_t>();
    auto exp = claims["exp"].get<std::int64_t>();
    auto wall = wall_now();
    if (iat > wall + 60 || exp <= wall || exp - iat > 3600) {
      return token_refusal("Invalid JWT: Token must be a short-lived token (60 minutes) and in "
                           "a reasonable timeframe");
    }
    auto token = random_token();
    tokens[token] = now() + lifetime;
    return json_answer(200, {{"access_token", token},
                             {"expires_in", lifetime.count()},
                             {"token_type", "Bearer"}});
  }

  response bad_message(const std::string& field, const std::string& why) {
    problems.push_back("message: " + field + ": " + why);
    return json_answer(400, google_error(400, "INVALID_ARGUMENT", why, "INVALID_ARGUMENT", field));
  }

  /// "" when `message` has the shape FCM v1 accepts, else the bad field (and `why`).
  std::string check_shape(const json& message, std::string& why) {
    static const std::set<std::string> known{"name", "data", "notification", "android",
                                             "webpush", "apns", "fcm_options", "token",
                                             "topic", "condition"};
    for (auto& [k, v] : message.items()) {
      if (known.count(k) == 0) {
        why = "Invalid JSON payload received. Unknown name \"" + k + "\" at 'message'";
        return "message";
      }
    }
    if (!message.contains("token") || !message["token"].is_string()
        || message["token"].get<std::string>().empty()) {
      why = "Recipient of the message is not set.";
      return "message.token";
    }
    if (message.contains("notification")) {
      auto& n = message["notification"];
      if (!n.is_object()) {
        why = "must be an object";
        return "message.notification";
      }
      for (auto& [k, v] : n.items()) {
        if ((k != "title" && k != "body" && k != "image") || !v.is_string()) {
          why = "Invalid value or unknown name \"" + k + "\"";
          return "message.notification";
        }
      }
    }
    if (message.contains("data")) {
      auto& d = message["data"];
      if (!d.is_object()) {
        why = "must be a map of strings";
        return "message.data";
      }
      for (auto& [k, v] : d.items()) {
        if (!v.is_string()) {
          why = "Invalid value at 'message.data[" + k + "]' (TYPE_STRING)";
          return "message.data";
        }
      }
    }
    if (message.contains("android")) {
      auto& a = message["android"];
      if (!a.is_object()
          || (a.contains("priority") && a["priority"] != "normal" && a["priority"] != "high"
              && a["priority"] != "NORMAL" && a["priority"] != "HIGH")) {
        why = "Invalid value at 'message.android.priority'";
        return "message.android.priority";
      }
    }
    if (message.contains("apns")) {
      auto& a = message["apns"];
      if (!a.is_object() || (a.contains("headers") && !a["headers"].is_object())) {
        why = "must be an object";
        return "message.apns";
      }
      if (a.contains("headers")) {
        for (auto& [k, v] : a["headers"].items()) {
          if (!v.is_string()) {
            why = "header values must be strings";
            return "message.apns.headers";
          }
        }
      }
    }
    if (message.contains("webpush")) {
      auto& w = message["webpush"];
      if (!w.is_object()) {
        why = "must be an object";
        return "message.webpush";
      }
      if (w.contains("fcm_options") && w["fcm_options"].contains("link")) {
        auto& link = w["fcm_options"]["link"];
        if (!link.is_string() || link.get<std::string>().rfind("https://", 0) != 0) {
          why = "The link must use the HTTPS scheme";
          return "message.webpush.fcm_options.link";
        }
      }
    }
    return {};
  }

  response send(const bhttp::request<bhttp::string_body>& req) {
    std::lock_guard lock{mtx};
    std::string auth{req[bhttp::field::authorization]};
    auto token = auth.rfind("Bearer ", 0) == 0 ? auth.substr(7) : std::string{};
    auto issued = tokens.find(token);
    if (token.empty() || issued == tokens.end() || revoked.count(token) != 0 || refuse_all
        || issued->second <= now()) {
      ++unauthorized;
      return json_answer(401, google_error(401, "UNAUTHENTICATED",
                                           "Request had invalid authentication credentials. "
                                           "Expected OAuth 2 access token, login cookie or "
                                           "other valid authentication credential."));
    }
    auto type = std::string{req[bhttp::field::content_type]};
    if (type.rfind("application/json", 0) != 0) {
      problems.push_back("Content-Type " + type);
      return json_answer(400, google_error(400, "INVALID_ARGUMENT", "Content-Type must be JSON"));
    }
    auto body = json::parse(req.body(), nullptr, false);
    if (!body.is_object() || !body.contains("message") || !body["message"].is_object()) {
      return bad_message("message", "Invalid JSON payload received.");
    }
    for (auto& [k, v] : body.items()) {
      if (k != "message" && k != "validate_only") {
        return bad_message("", "Invalid JSON payload received. Unknown name \"" + k + "\"");
      }
    }
    std::string why;
    if (auto field = check_shape(body["message"], why); !field.empty()) {
      return bad_message(field, why);
    }
    auto device = body["message"]["token"].get<std::string>();
    auto chosen = answers.find(device);
    auto a = chosen == answers.end() ? answer::ok : chosen->second.first;
    got.push_back({device, body["message"], a});
    auto retry = chosen == answers.end() ? std::chrono::seconds{0} : chosen->second.second;
    auto with_retry = [&](response r) {
      if (retry.count() > 0) {
        r.set(bhttp::field::retry_after, std::to_string(retry.count()));
      }
      return r;
    };
    switch (a) {
      case answer::ok:
        return json_answer(200, {{"name", "projects/" + project_id + "/messages/0:"
                                            + std::to_string(++sequence)}});
      case answer::unregistered:
        return json_answer(404, google_error(404, "NOT_FOUND", "Requested entity was not found.",
                                             "UNREGISTERED"));
      case answer::invalid_argument:
        return json_answer(400, google_error(400, "INVALID_ARGUMENT",
                                             "The registration token is not a valid FCM "
                                             "registration token",
                                             "INVALID_ARGUMENT", "message.token"));
      case answer::quota_exceeded:
        return with_retry(json_answer(429, google_error(429, "RESOURCE_EXHAUSTED",
                                                        "Quota exceeded.", "QUOTA_EXCEEDED")));
      case answer::unavailable:
        return with_retry(json_answer(503, google_error(503, "UNAVAILABLE",
                                                        "The service is currently unavailable.",
                                                        "UNAVAILABLE")));
      case answer::silent:
        hold_this = true;
        return json_answer(200, json::object()); // never written
    }
    return json_answer(500, google_error(500, "INTERNAL", "Internal error encountered."));
  }
};

fake_fcm::fake_fcm(std::string project_id, tls_files tls) : impl_(std::make_shared<impl>()) {
  auto& m = *impl_;
  m.project_id = std::move(project_id);
  if (!tls.certificate_pem.empty()) {
    m.tls_context.emplace(asio::ssl::context::tls_server);
    m.tls_context->use_certificate_chain_file(tls.certificate_pem);
    m.tls_context->use_private_key_file(tls.private_key_pem, asio::ssl::context::pem);
  }
  m.tls = std::move(tls);
  m.client_email = "herald-sender@" + m.project_id + ".iam.gserviceaccount.com";
  m.listen();
  m.work.emplace(m.ioc.get_executor());
  m.io_thread = std::thread{[&m] { m.ioc.run(); }};
}

fake_fcm::~fake_fcm() {
  auto& m = *impl_;
  // Closing every socket ends every pending operation; run() then returns on its own once
  // their handlers (which hold the impl) have run, so nothing is left holding it.
  m.on_io([&m] { m.close_all(); });
  m.work.reset();
  m.io_thread.join();
}

std::string fake_fcm::endpoint() const {
  return impl_->endpoint();
}

std::string fake_fcm::token_uri() const {
  return impl_->token_uri();
}

const std::string& fake_fcm::project_id() const {
  return impl_->project_id;
}

std::string fake_fcm::write_credentials(const std::string& dir) const {
  return write_credentials(dir, impl_->key);
}

std::string fake_fcm::write_credentials(const std::string& dir, const rsa_key_pair& key) const {
  auto& m = *impl_;
  json account{{"type", "service_account"},
               {"project_id", m.project_id},
               {"private_key_id", m.private_key_id},
               {"private_key", key.private_pem},
               {"client_email", m.client_email},
               {"client_id", "100000000000000000001"},
               {"auth_uri", "https://accounts.google.com/o/oauth2/auth"},
               {"token_uri", m.token_uri()}};
  auto path = dir + "/fcm-service-account.json";
  std::ofstream out{path, std::ios::trunc};
  out << account.dump(2);
  if (!out) {
    throw std::runtime_error("cannot write " + path);
  }
  return path;
}

void fake_fcm::set_token_lifetime(std::chrono::seconds lifetime) {
  std::lock_guard lock{impl_->mtx};
  impl_->lifetime = lifetime;
}

void fake_fcm::set_answer(const std::string& device_token, answer a,
                          std::chrono::seconds retry_after) {
  std::lock_guard lock{impl_->mtx};
  impl_->answers[device_token] = {a, retry_after};
}

void fake_fcm::revoke_tokens() {
  std::lock_guard lock{impl_->mtx};
  for (auto& [token, expiry] : impl_->tokens) {
    impl_->revoked.insert(token);
  }
}

void fake_fcm::refuse_all_tokens(bool refuse) {
  std::lock_guard lock{impl_->mtx};
  impl_->refuse_all = refuse;
}

void fake_fcm::advance(std::chrono::seconds by) {
  std::lock_guard lock{impl_->mtx};
  impl_->offset += by;
}

void fake_fcm::go_down() {
  auto& m = *impl_;
  m.on_io([&m] { m.close_all(); });
}

void fake_fcm::come_up() {
  auto& m = *impl_;
  m.on_io([&m] {
    m.acceptor = tcp::acceptor{m.ioc};
    m.listen();
  });
}

std::size_t fake_fcm::token_requests() const {
  std::lock_guard lock{impl_->mtx};
  return impl_->token_requests;
}

std::size_t fake_fcm::tokens_issued() const {
  std::lock_guard lock{impl_->mtx};
  return impl_->tokens.size();
}

std::size_t fake_fcm::unauthorized() const {
  std::lock_guard lock{impl_->mtx};
  return impl_->unauthorized;
}

std::size_t fake_fcm::connections_accepted() const {
  return impl_->accepted.load();
}

std::vector<fake_fcm::received> fake_fcm::messages() const {
  std::lock_guard lock{impl_->mtx};
  return impl_->got;
}

std::vector<std::string> fake_fcm::problems() const {
  std::lock_guard lock{impl_->mtx};
  return impl_->problems;
}

} // namespace herald::test
