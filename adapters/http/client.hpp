#pragma once

// A blocking HTTP(S) client for provider APIs (FCM, Web Push) on one libcurl easy handle.
//
// One client = one handle = its kept-alive connections (HTTP/1.1 keep-alive, or one
// HTTP/2 stream-multiplexed connection when the TLS peer offers h2 by ALPN): a pool of
// workers that each own a client is a pool of reused connections, never a connection per
// message. `connections_opened()` counts the connections the handle had to open, so a
// caller (and a test) can see reuse.
//
// What it promises: every call ends within `timeout` (connecting within
// `connect_timeout`); a response body larger than `max_response_bytes` is cut off and
// reported as `too_large`, never buffered whole; redirects are not followed; only http://
// and https:// are spoken. Transport failures come back as values (`transport_error`),
// never as exceptions. TLS peers are verified (chain and host name) against `ca_file` when
// set, else the system's store.
//
// DNS rebinding: a caller that judged an address itself (net::resolve +
// net::resolved_problem, adapters/net/outbound.hpp) passes it as `client_request::pin`:
// the connection then goes to exactly that address (libcurl's CONNECT_TO), while the URL's
// host name is still the one sent in Host/SNI and verified in the certificate.
//
// Blocking and not thread-safe: owned by one thread (a detached actor or an I/O thread),
// never called on CAF's cooperative scheduler.

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "adapters/net/outbound.hpp"

namespace herald::http {

struct client_settings {
  std::chrono::milliseconds connect_timeout{5000}; ///< TCP and TLS handshake
  std::chrono::milliseconds timeout{10000};        ///< a whole call, first byte to last
  std::size_t max_response_bytes = 1 << 20;        ///< larger bodies: too_large
  std::string ca_file{}; ///< PEM CA certificates for TLS peers; "": the system's store
};

/// Why a call got no HTTP answer.
enum class transport_error {
  none,       ///< an HTTP answer arrived (any status)
  refused,    ///< the connection was refused (nobody listens, or a firewall said no)
  timeout,    ///< connect_timeout or timeout passed
  tls,        ///< handshake failed or the peer's certificate did not verify
  resolve,    ///< the host name did not resolve
  too_large,  ///< the answer's body exceeded max_response_bytes
  connection, ///< the connection broke mid-call (reset, closed, protocol error)
  other,      ///< anything else (a malformed URL, out of memory)
};

/// "refused", "timeout", ... for logs and outcomes.
const char* to_string(transport_error e);

struct client_request {
  std::string method = "POST";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers; ///< e.g. {"Authorization", ...}
  std::string body;
  /// Connect to exactly this address instead of resolving the URL's host (see above).
  std::optional<net::ip_address> pin{};
};

struct client_response {
  transport_error error = transport_error::none;
  std::string error_text; ///< libcurl's words when error != none
  int status = 0;         ///< the HTTP status when error == none
  int http_version = 0;   ///< 11 for HTTP/1.1, 2 for HTTP/2 (0 when no answer)
  std::map<std::string, std::string> headers; ///< names lower-cased; a repeated name: the last
  std::string body;

  bool answered() const { return error == transport_error::none; }
  /// The header's value or "" (name in any case).
  std::string header(const std::string& name) const;
};

class client {
public:
  explicit client(client_settings s);
  ~client();
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  /// One call on the kept-alive connection (opened, or opened again, when needed).
  /// Blocking, at most `timeout`.
  client_response send(const client_request& r);

  /// Connections this client has opened so far (each reuse adds nothing).
  std::size_t connections_opened() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// "application/x-www-form-urlencoded" value encoding of `text` (RFC 3986 unreserved
/// characters kept, everything else %XX).
std::string form_encode(const std::string& text);

} // namespace herald::http
