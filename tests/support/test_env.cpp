#include "support/test_env.hpp"

#include <boost/test/unit_test.hpp>

#include <cpprest/http_client.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "runtime/auth/base64.hpp"
#include "runtime/logging/log.hpp"
#include "runtime/system_config.hpp"

namespace herald::test {

namespace fs = std::filesystem;

std::string env(const std::string& name) {
  const char* v = std::getenv(name.c_str());
  if (v == nullptr || *v == '\0') {
    throw std::runtime_error(name + " is not set: run the integration tests through scripts/test");
  }
  return v;
}

std::map<std::string, std::string> bearer(const std::string& credential) {
  return {{"Authorization", "Bearer " + credential}};
}

std::map<std::string, std::string>
node_environment(const std::map<std::string, std::string>& overrides) {
  std::map<std::string, std::string> environment = {
    {"HERALD_AMQP_URL", env("HERALD_TEST_AMQP_URL")},
    {"HERALD_PG_URL", env("HERALD_TEST_PG_URL")},
    {"HERALD_REDIS_URL", env("HERALD_TEST_REDIS_URL")},
    {"HERALD_SMTP_URL", env("HERALD_TEST_SMTP_URL")},
    {"HERALD_HTTP_PORT_BASE", env("HERALD_TEST_HTTP_PORT_BASE")},
    {"HERALD_HTTP_HOST", "127.0.0.1"},
    {"HERALD_NODE_NAME", "test-node"},
    // Login needs a secret; a small work factor keeps password tests fast.
    {"HERALD_JWT_SECRET", jwt_secret},
    {"HERALD_ADMIN_TOKEN", admin_token},
    {"HERALD_AUTH_PASSWORD_ITERATIONS", "1000"},
    // Suites send hundreds of notifications to one user within a minute; the rate limits
    // (rate_limit.per_user defaults to 100/min) are tested where a suite sets them.
    {"HERALD_RATE_LIMIT_PER_USER", "0"},
    {"HERALD_LOG_LEVEL", std::getenv("HERALD_TEST_LOG_LEVEL") ? std::getenv("HERALD_TEST_LOG_LEVEL")
                                                               : "warn"},
  };
  for (auto& [k, v] : overrides) {
    environment[k] = v;
  }
  return environment;
}

config::settings node_settings(const std::map<std::string, std::string>& overrides) {
  config::sources in;
  for (auto& [k, v] : node_environment(overrides)) {
    in.environment[k] = v;
  }
  auto loaded = config::load(in);
  if (!loaded.value) {
    throw std::runtime_error("test configuration: " + loaded.error);
  }
  return *loaded.value;
}

running_node::running_node(const std::map<std::string, std::string>& overrides,
                           bool wait_until_ready)
  : settings_(node_settings(overrides)) {
  log::init("test-node", log::parse_level(settings_.get("log.level")));
  base_ = static_cast<int>(settings_.get_int("http.port_base"));
  cfg_ = std::make_unique<runtime::system_config>(settings_);
  system_ = std::make_unique<caf::actor_system>(*cfg_);
  node_ = std::make_unique<herald::node>(*system_, settings_);
  if (auto err = node_->start(); !err.empty()) {
    node_->stop();
    throw std::runtime_error("node did not start: " + err);
  }
  auto alive = [&](int port) { return http_call("GET", url(port) + "/health").status == 200; };
  if (!eventually([&] { return alive(0) || alive(1) || alive(2) || alive(3) || alive(4); },
                  std::chrono::seconds{10})) {
    node_->stop();
    throw std::runtime_error("node started but no service port answers /health");
  }
  if (!wait_until_ready) {
    return;
  }
  // Every service the roles opened (gateway +0, users +1, templates +2, email +3, push +4)
  // with its dependencies up, so no test starts against a half-ready node.
  for (int port = 0; port < 5; ++port) {
    if (!alive(port)) {
      continue;
    }
    http_reply ready;
    if (!eventually(
          [&] {
            ready = http_call("GET", url(port) + "/health/ready");
            return ready.status == 200;
          },
          std::chrono::seconds{15})) {
      node_->stop();
      throw std::runtime_error("node not ready on " + url(port) + ": " + ready.raw);
    }
  }
}

running_node::~running_node() {
  node_->stop();
  node_.reset();
  system_.reset();
}

std::string running_node::url(int offset) const {
  return "http://127.0.0.1:" + std::to_string(base_ + offset);
}

namespace {
std::string lower(std::string s);
} // namespace

http_reply http_call(const std::string& method, const std::string& url, const std::string& body,
                     const std::map<std::string, std::string>& headers,
                     std::chrono::seconds timeout) {
  web::http::client::http_client_config cfg;
  cfg.set_timeout(timeout);
  web::http::client::http_client client{url, cfg};
  web::http::http_request req{method};
  std::string content_type = "application/json";
  bool credential_named = false;
  for (auto& [k, v] : headers) {
    auto name = lower(k);
    credential_named = credential_named || name == "authorization" || name == "x-api-key";
    if (name == "content-type") {
      content_type = v; // set with the body: a test may send another type, or none ("")
    } else if (!v.empty()) {
      req.headers().add(k, v);
    }
  }
  if (!credential_named) {
    req.headers().add("Authorization", "Bearer " + admin_token);
  }
  if (!body.empty() || method == "POST") {
    req.set_body(body, content_type);
  }
  http_reply out;
  try {
    auto resp = client.request(req).get();
    out.status = resp.status_code();
    out.raw = resp.extract_string(true).get();
    for (auto& [k, v] : resp.headers()) {
      out.headers[k] = v;
    }
  } catch (const std::exception& e) {
    out.status = 0;
    out.raw = e.what();
  }
  out.body = nlohmann::json::parse(out.raw, nullptr, false);
  if (out.body.is_discarded()) {
    out.body = nullptr;
  }
  return out;
}

void check_error(const http_reply& r, int status, const std::string& mentions) {
  BOOST_TEST_CONTEXT("reply: " << r.raw) {
    BOOST_CHECK_EQUAL(r.status, status);
    BOOST_REQUIRE(r.body.is_object());
    BOOST_CHECK_EQUAL(r.body["success"], false);
    BOOST_CHECK(r.body["data"].is_null());
    BOOST_REQUIRE(r.body["error"].is_string());
    BOOST_CHECK_MESSAGE(r.body["error"].get<std::string>().find(mentions) != std::string::npos,
                        "error should mention '" << mentions << "'");
    BOOST_CHECK(r.body["message"].is_string());
    BOOST_CHECK(r.body.contains("meta"));
  }
}

bool eventually(const std::function<bool()>& ready, std::chrono::milliseconds deadline) {
  auto until = std::chrono::steady_clock::now() + deadline;
  for (;;) {
    if (ready()) {
      return true;
    }
    if (std::chrono::steady_clock::now() >= until) {
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{50});
  }
}

namespace {

std::string read_file(const fs::path& p) {
  std::ifstream in{p, std::ios::binary};
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string decode_quoted_printable(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '=') {
      out += s[i];
    } else if (i + 2 < s.size() && s[i + 1] == '\r' && s[i + 2] == '\n') {
      i += 2; // soft line break
    } else if (i + 2 < s.size()) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    }
  }
  return out;
}

/// A MIME base64 body: line breaks dropped, then decoded strictly ("" if it is not base64).
std::string decode_base64(std::string s) {
  s.erase(std::remove_if(s.begin(), s.end(), [](char c) { return c == '\r' || c == '\n'; }),
          s.end());
  return auth::base64_decode(s).value_or("");
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

} // namespace

std::string stored_mail::header(const std::string& name) const {
  auto head_end = raw.find("\r\n\r\n");
  std::istringstream in{raw.substr(0, head_end)};
  std::string line;
  auto want = lower(name) + ":";
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') {
      line.pop_back();
    }
    if (lower(line.substr(0, want.size())) == want) {
      auto v = line.substr(want.size());
      v.erase(0, v.find_first_not_of(' '));
      return v;
    }
  }
  return {};
}

std::string stored_mail::decoded_text() const {
  // The text/plain part: its headers, a blank line, then the body up to a boundary or end.
  auto part = lower(raw).find("content-type: text/plain");
  if (part == std::string::npos) {
    return {};
  }
  auto part_head_end = raw.find("\r\n\r\n", part);
  auto part_head = lower(raw.substr(part, part_head_end - part));
  auto body = raw.substr(part_head_end + 4);
  if (auto boundary = body.find("\r\n--"); boundary != std::string::npos) {
    body.erase(boundary);
  }
  if (part_head.find("quoted-printable") != std::string::npos) {
    return decode_quoted_printable(body);
  }
  if (part_head.find("base64") != std::string::npos) {
    return decode_base64(body);
  }
  return body;
}

std::vector<stored_mail> mails_to(const std::string& maildir, const std::string& rcpt) {
  std::vector<stored_mail> out;
  if (!fs::exists(maildir)) {
    return out;
  }
  for (auto& entry : fs::directory_iterator(maildir)) {
    if (entry.path().extension() != ".eml") {
      continue;
    }
    stored_mail m;
    m.path = entry.path().string();
    m.raw = read_file(entry.path());
    m.mail_from = m.header("X-Herald-Sink-Mail-From");
    m.rcpt_to = m.header("X-Herald-Sink-Rcpt-To");
    if (m.rcpt_to.find(rcpt) != std::string::npos) {
      out.push_back(std::move(m));
    }
  }
  return out;
}

bool server_ctl(const std::string& action, const std::string& server) {
  auto cmd = env("HERALD_TEST_CTL") + " " + action + " " + server;
  return std::system(cmd.c_str()) == 0;
}

std::string unique(const std::string& prefix) {
  static std::atomic<int> counter{0};
  auto now = std::chrono::system_clock::now().time_since_epoch().count();
  return prefix + std::to_string(now % 1000000000) + "-" + std::to_string(++counter);
}

} // namespace herald::test
