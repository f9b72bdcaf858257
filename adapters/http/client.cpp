#include "adapters/http/client.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <mutex>
#include <new>

namespace herald::http {

namespace {

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string trim(const std::string& s) {
  auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) {
    return {};
  }
  auto e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

transport_error kind_of(CURLcode code) {
  switch (code) {
    case CURLE_OK:
      return transport_error::none;
    case CURLE_COULDNT_CONNECT:
      return transport_error::refused;
    case CURLE_OPERATION_TIMEDOUT:
      return transport_error::timeout;
    case CURLE_COULDNT_RESOLVE_HOST:
      return transport_error::resolve;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_CLIENTCERT:
      return transport_error::tls;
    case CURLE_FILESIZE_EXCEEDED:
      return transport_error::too_large;
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_PARTIAL_FILE:
    case CURLE_WEIRD_SERVER_REPLY:
      return transport_error::connection;
    default:
      return transport_error::other;
  }
}

} // namespace

const char* to_string(transport_error e) {
  switch (e) {
    case transport_error::none:
      return "none";
    case transport_error::refused:
      return "refused";
    case transport_error::timeout:
      return "timeout";
    case transport_error::tls:
      return "tls";
    case transport_error::resolve:
      return "resolve";
    case transport_error::too_large:
      return "too_large";
    case transport_error::connection:
      return "connection";
    case transport_error::other:
      return "other";
  }
  return "other";
}

std::string client_response::header(const std::string& name) const {
  auto it = headers.find(lower(name));
  return it == headers.end() ? std::string{} : it->second;
}

std::string form_encode(const std::string& text) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size() * 3);
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 0xF];
    }
  }
  return out;
}

struct client::impl {
  client_settings settings;
  CURL* handle = nullptr;
  std::size_t opened = 0;

  // Per call: where the callbacks write.
  client_response* current = nullptr;
  bool over_cap = false;
  char error_buffer[CURL_ERROR_SIZE]{};

  static std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
    auto* self = static_cast<impl*>(user);
    auto n = size * count;
    auto& body = self->current->body;
    if (body.size() + n > self->settings.max_response_bytes) {
      self->over_cap = true;
      return 0; // aborts the transfer: CURLE_WRITE_ERROR
    }
    body.append(data, n);
    return n;
  }

  static std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) {
    auto* self = static_cast<impl*>(user);
    auto n = size * count;
    std::string line{data, n};
    if (line.rfind("HTTP/", 0) == 0) {
      // A new status line (after a 1xx): the headers so far were not the answer's.
      self->current->headers.clear();
      return n;
    }
    auto colon = line.find(':');
    if (colon != std::string::npos) {
      self->current->headers[lower(trim(line.substr(0, colon)))] = trim(line.substr(colon + 1));
    }
    return n;
  }

  void configure() {
    curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(handle, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(handle, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(handle, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_2TLS));
    curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(settings.connect_timeout.count()));
    curl_easy_setopt(handle, CURLOPT_TIMEOUT_MS, static_cast<long>(settings.timeout.count()));
    curl_easy_setopt(handle, CURLOPT_MAXFILESIZE_LARGE,
                     static_cast<curl_off_t>(settings.max_response_bytes));
    curl_easy_setopt(handle, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, &impl::on_body);
    curl_easy_setopt(handle, CURLOPT_WRITEDATA, this);
    curl_easy_setopt(handle, CURLOPT_HEADERFUNCTION, &impl::on_header);
    curl_easy_setopt(handle, CURLOPT_HEADERDATA, this);
    curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, error_buffer);
    if (!settings.ca_file.empty()) {
      curl_easy_setopt(handle, CURLOPT_CAINFO, settings.ca_file.c_str());
    }
  }
};

client::client(client_settings s) : impl_(std::make_unique<impl>()) {
  global_init();
  impl_->settings = std::move(s);
  impl_->handle = curl_easy_init();
  if (impl_->handle == nullptr) {
    throw std::bad_alloc{};
  }
  impl_->configure();
}

client::~client() {
  if (impl_ && impl_->handle != nullptr) {
    curl_easy_cleanup(impl_->handle);
  }
}

std::size_t client::connections_opened() const {
  return impl_->opened;
}

client_response client::send(const client_request& r) {
  auto& m = *impl_;
  client_response out;
  m.current = &out;
  m.over_cap = false;
  m.error_buffer[0] = '\0';
  CURL* h = m.handle;

  curl_easy_setopt(h, CURLOPT_URL, r.url.c_str());
  if (r.method == "GET") {
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, nullptr);
  } else {
    // POSTFIELDS with an explicit size: the body may hold any byte, and is not copied.
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(r.body.size()));
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, r.body.data());
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r.method == "POST" ? nullptr : r.method.c_str());
  }

  curl_slist* headers = nullptr;
  // libcurl would otherwise wait for a 100 Continue on larger bodies.
  headers = curl_slist_append(headers, "Expect:");
  for (auto& [name, value] : r.headers) {
    auto line = name + ": " + value;
    headers = curl_slist_append(headers, line.c_str());
  }
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);

  curl_slist* connect_to = nullptr;
  if (r.pin) {
    // "::ADDR:" — any host and port of the URL connect to ADDR on the same port.
    auto addr = r.pin->v6 ? "[" + r.pin->text() + "]" : r.pin->text();
    auto entry = "::" + addr + ":";
    connect_to = curl_slist_append(connect_to, entry.c_str());
  }
  curl_easy_setopt(h, CURLOPT_CONNECT_TO, connect_to);

  auto code = curl_easy_perform(h);

  long connects = 0;
  if (curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &connects) == CURLE_OK && connects > 0) {
    m.opened += static_cast<std::size_t>(connects);
  }
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, nullptr);
  curl_easy_setopt(h, CURLOPT_CONNECT_TO, nullptr);
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, nullptr);
  curl_slist_free_all(headers);
  curl_slist_free_all(connect_to);
  m.current = nullptr;

  if (code == CURLE_OK) {
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    out.status = static_cast<int>(status);
    long version = 0;
    curl_easy_getinfo(h, CURLINFO_HTTP_VERSION, &version);
    out.http_version = version == CURL_HTTP_VERSION_2_0 ? 2
                       : version == CURL_HTTP_VERSION_1_1 ? 11
                       : version == CURL_HTTP_VERSION_1_0 ? 10
                       : static_cast<int>(version);
    return out;
  }
  out.error = (code == CURLE_WRITE_ERROR && m.over_cap) ? transport_error::too_large
                                                         : kind_of(code);
  out.error_text = m.error_buffer[0] != '\0' ? std::string{m.error_buffer}
                                             : std::string{curl_easy_strerror(code)};
  if (out.error == transport_error::too_large) {
    out.error_text = "the answer's body exceeds " + std::to_string(m.settings.max_response_bytes)
                     + " bytes";
  }
  out.body.clear();
  out.headers.clear();
  return out;
}

} // namespace herald::http
