#include "adapters/smtp/client.hpp"

#include "adapters/smtp/pipelined.hpp"
#include "adapters/url.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string_view>

namespace herald::smtp {

namespace {

void init_curl_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

/// What libcurl is configured with, from HERALD_SMTP_URL.
struct endpoint {
  std::string curl_url; ///< scheme://host:port/[helo-domain], without credentials or query
  std::string scheme;
  std::string host;
  int port = 25;
  std::string helo;
  std::string user;
  std::string password;
  bool starttls_required = false;
  bool insecure = false;
  std::string ca_file; ///< "" : libcurl's default (the system's store)
};

bool flag_value(const std::string& key, const std::string& value) {
  if (value == "1" || value == "true") {
    return true;
  }
  if (value == "0" || value == "false") {
    return false;
  }
  throw std::invalid_argument("smtp url: ?" + key + "= expects 1 or 0, got '" + value + "'");
}

bool is_host_name(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '-';
  });
}

endpoint parse_endpoint(const std::string& text) {
  std::string error;
  auto u = parse_url(text, &error);
  if (!u) {
    throw std::invalid_argument("smtp url: " + error); // never echo the URL: it may hold a password
  }
  if (u->scheme != "smtp" && u->scheme != "smtps") {
    throw std::invalid_argument("smtp url: scheme must be smtp or smtps, not '" + u->scheme + "'");
  }
  if (!is_host_name(u->path)) {
    throw std::invalid_argument("smtp url: the path (EHLO domain) must be a host name");
  }
  endpoint e;
  for (const auto& [key, value] : u->query) {
    if (key == "starttls") {
      if (value != "required" || u->scheme != "smtp") {
        throw std::invalid_argument("smtp url: only smtp:// takes ?starttls=required");
      }
      e.starttls_required = true;
    } else if (key == "insecure") {
      e.insecure = flag_value(key, value);
    } else {
      throw std::invalid_argument("smtp url: unknown query parameter '" + key + "'");
    }
  }
  auto port = u->port != 0 ? u->port : (u->scheme == "smtps" ? 465 : 25);
  auto host = u->host.find(':') == std::string::npos ? u->host : "[" + u->host + "]";
  e.curl_url = u->scheme + "://" + host + ":" + std::to_string(port) + "/" + u->path;
  e.scheme = u->scheme;
  e.host = u->host;
  e.port = port;
  e.helo = u->path;
  e.user = u->user;
  e.password = u->password;
  return e;
}

/// Progress of one transfer, as libcurl's callbacks report it.
struct transfer {
  std::string_view message;
  size_t offset = 0;
  bool in_transaction = false; ///< the last command sent was MAIL FROM, RCPT TO or DATA
  std::string last_reply;      ///< last reply line from the relay
  bool quitting = false;       ///< libcurl sent QUIT: the transaction's outcome is known
};

size_t read_message(char* buffer, size_t size, size_t count, void* user) {
  auto* t = static_cast<transfer*>(user);
  size_t n = std::min(size * count, t->message.size() - t->offset);
  std::memcpy(buffer, t->message.data() + t->offset, n);
  t->offset += n;
  return n;
}

int watch_dialogue(CURL*, curl_infotype type, char* data, size_t size, void* user) {
  auto* t = static_cast<transfer*>(user);
  std::string_view line{data, size};
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) {
    line.remove_suffix(1);
  }
  if (t->quitting) {
    return 0; // keep the reply that ended the transaction, not QUIT's "221 Bye"
  }
  if (type == CURLINFO_HEADER_OUT) { // commands, and AUTH data: only classify, never keep
    auto starts = [&](std::string_view prefix) { return line.substr(0, prefix.size()) == prefix; };
    t->quitting = starts("QUIT");
    if (!t->quitting) {
      t->in_transaction = starts("MAIL FROM:") || starts("RCPT TO:") || line == "DATA";
    }
  } else if (type == CURLINFO_HEADER_IN) {
    t->last_reply = std::string{line.substr(0, 200)};
  }
  return 0;
}

/// One easy handle with everything but the envelope configured; owns the transfer state
/// the callbacks write to, so they never outlive it (curl_easy_cleanup may send QUIT).
struct session {
  transfer state;
  char error[CURL_ERROR_SIZE] = {};
  CURL* handle = nullptr;

  session(const endpoint& e, std::chrono::milliseconds timeout) {
    init_curl_once();
    handle = curl_easy_init();
    if (handle == nullptr) {
      throw std::runtime_error("smtp: curl_easy_init failed");
    }
    auto ms = static_cast<long>(timeout.count());
    curl_easy_setopt(handle, CURLOPT_URL, e.curl_url.c_str());
    curl_easy_setopt(handle, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    if (!e.user.empty()) {
      curl_easy_setopt(handle, CURLOPT_USERNAME, e.user.c_str());
      curl_easy_setopt(handle, CURLOPT_PASSWORD, e.password.c_str());
    }
    curl_easy_setopt(handle, CURLOPT_USE_SSL,
                     static_cast<long>(e.starttls_required ? CURLUSESSL_ALL : CURLUSESSL_NONE));
    if (e.insecure) {
      curl_easy_setopt(handle, CURLOPT_SSL_VERIFYPEER, 0L);
      curl_easy_setopt(handle, CURLOPT_SSL_VERIFYHOST, 0L);
    } else if (!e.ca_file.empty()) {
      curl_easy_setopt(handle, CURLOPT_CAINFO, e.ca_file.c_str());
    }
    curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(handle, CURLOPT_TIMEOUT_MS, ms);
    curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT_MS, ms);
    curl_easy_setopt(handle, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, error);
    curl_easy_setopt(handle, CURLOPT_READFUNCTION, read_message);
    curl_easy_setopt(handle, CURLOPT_READDATA, &state);
    // The dialogue tells which command a 5xx answered; VERBOSE only feeds the callback.
    curl_easy_setopt(handle, CURLOPT_DEBUGFUNCTION, watch_dialogue);
    curl_easy_setopt(handle, CURLOPT_DEBUGDATA, &state);
    curl_easy_setopt(handle, CURLOPT_VERBOSE, 1L);
  }

  ~session() {
    curl_easy_cleanup(handle);
  }

  session(const session&) = delete;
  session& operator=(const session&) = delete;

  std::string describe(CURLcode rc) const {
    std::string out = error[0] != '\0' ? error : curl_easy_strerror(rc);
    if (!state.last_reply.empty()) {
      out += " (relay said: " + state.last_reply + ")";
    }
    return out;
  }
};

/// 5xx codes that refuse our session (authentication or STARTTLS required, credentials
/// wrong) rather than this message: the relay's configuration is at fault, so retrying
/// later (and tripping the breaker) is right, dead-lettering the message is not.
bool refuses_the_session(long code) {
  return code == 530 || code == 534 || code == 535 || code == 538;
}

bool is_envelope_address(std::string_view address) {
  return address.find_first_of("\r\n<>") == std::string_view::npos;
}

} // namespace

struct client::impl {
  endpoint where;
  std::chrono::milliseconds timeout;
  std::unique_ptr<session> current;
  std::unique_ptr<detail::pipelined_session> pipelined; ///< smtp:// without STARTTLS only

  void reconnect() {
    current.reset(); // closes the connection
    current = std::make_unique<session>(where, timeout);
  }

  /// One SMTP transaction; sets `retry_on_fresh_connection` when a reused connection
  /// failed before the relay took any part of the mail.
  send_outcome attempt(const mail& m, std::string_view message, bool& retry_on_fresh_connection) {
    auto& s = *current;
    s.state = transfer{message, 0, false, {}, false};
    s.error[0] = '\0';
    auto from = "<" + m.from + ">";
    curl_slist* recipients = curl_slist_append(nullptr, ("<" + m.to + ">").c_str());
    curl_easy_setopt(s.handle, CURLOPT_MAIL_FROM, from.c_str());
    curl_easy_setopt(s.handle, CURLOPT_MAIL_RCPT, recipients);
    curl_easy_setopt(s.handle, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(s.handle, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(message.size()));
    CURLcode rc = curl_easy_perform(s.handle);
    curl_easy_setopt(s.handle, CURLOPT_MAIL_RCPT, static_cast<curl_slist*>(nullptr));
    curl_slist_free_all(recipients);
    long code = 0;
    long new_connections = 0;
    curl_easy_getinfo(s.handle, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_getinfo(s.handle, CURLINFO_NUM_CONNECTS, &new_connections);
    if (rc == CURLE_OK) {
      return {send_status::sent, code, s.state.last_reply};
    }
    bool message_refused =
      code / 100 == 5 && !refuses_the_session(code) && s.state.in_transaction;
    retry_on_fresh_connection =
      new_connections == 0 && s.state.offset == 0 && (code == 0 || code == 421);
    bool own = !message_refused && s.state.in_transaction
               && ((code / 100 == 4 && code != 421) || rc == CURLE_OPERATION_TIMEDOUT);
    return {message_refused ? send_status::permanent_failure : send_status::transient_failure,
            code, s.describe(rc), own};
  }
};

client::client(settings s) : impl_(std::make_unique<impl>()) {
  impl_->where = parse_endpoint(s.url);
  impl_->where.ca_file = s.ca_file;
  impl_->timeout = s.timeout;
  impl_->reconnect();
  auto& w = impl_->where;
  if (w.scheme == "smtp" && !w.starttls_required) {
    impl_->pipelined = std::make_unique<detail::pipelined_session>(
      detail::plain_endpoint{w.host, w.port, w.helo, w.user, w.password, s.timeout});
  }
}

client::~client() = default;

send_outcome client::send(const mail& m) {
  if (m.to.empty() || !is_envelope_address(m.to) || !is_envelope_address(m.from)) {
    return {send_status::permanent_failure, 0, "invalid envelope address"};
  }
  auto message = build_message(m, std::chrono::system_clock::now());
  bool retry = false;
  auto outcome = impl_->attempt(m, message, retry);
  if (outcome.status != send_status::sent) {
    impl_->reconnect();
    if (retry) {
      bool ignored = false;
      outcome = impl_->attempt(m, message, ignored);
      if (outcome.status != send_status::sent) {
        impl_->reconnect();
      }
    }
  }
  return outcome;
}

std::vector<send_outcome> client::send_all(const std::vector<mail>& mails,
                                           std::chrono::steady_clock::time_point start_by) {
  if (impl_->pipelined) {
    return impl_->pipelined->send_all(mails, start_by);
  }
  std::vector<send_outcome> out;
  out.reserve(mails.size());
  std::string stopped;
  for (auto& m : mails) {
    if (stopped.empty() && std::chrono::steady_clock::now() > start_by) {
      stopped = "the batch waited too long for this SMTP connection";
    }
    if (!stopped.empty()) {
      out.push_back({send_status::transient_failure, 0, "not attempted: " + stopped});
      continue;
    }
    out.push_back(send(m));
    auto& r = out.back();
    // No answer, or one refusing the session: the mails after it would fare no better.
    if (r.status == send_status::transient_failure && !(r.smtp_code / 100 == 4 && r.smtp_code != 421)) {
      stopped = r.detail;
    }
  }
  return out;
}

std::string probe(const std::string& url, std::chrono::milliseconds timeout,
                  const std::string& ca_file) {
  auto where = parse_endpoint(url);
  where.ca_file = ca_file;
  session s{where, timeout};
  curl_easy_setopt(s.handle, CURLOPT_CONNECT_ONLY, 1L);
  CURLcode rc = curl_easy_perform(s.handle);
  return rc == CURLE_OK ? std::string{} : s.describe(rc);
}

} // namespace herald::smtp
