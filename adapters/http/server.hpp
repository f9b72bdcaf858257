#pragma once

// An HTTP/1.1 server on Boost.Beast with a small router. Handlers run on the server's own
// I/O threads, never on CAF's scheduler; they must not block for long and answer through
// the reply function, exactly once, from any thread.
//
// What it promises clients: keep-alive and pipelining (answers in request order; a
// connection stops reading while `limits::max_pipelined` answers are pending), HEAD for
// every GET route, `Connection: close` and HTTP/1.0 honoured. Every limit below is checked
// before any handler sees the request: an oversized header section or too many fields is
// a 431, an oversized request line a 414, an oversized body a 413 (the limit is
// max_body_bytes, or the path's own in path_body_bytes), a malformed request a
// 400, each in the envelope of `error_fn` and followed by closing the connection. A
// request that is not complete within `read_timeout` of its first byte, and a connection
// with nothing in progress for `idle_timeout`, are closed. Past the connection budget the
// longest-idle connection is closed to make room, or, when none is idle, the newcomer is
// answered 503 at once and closed.

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "adapters/http/connection_budget.hpp"

namespace herald::http {

struct request {
  std::string method;
  std::string path;                          ///< decoded, without the query
  std::map<std::string, std::string> query;  ///< decoded
  std::map<std::string, std::string> params; ///< from {name} segments of the route
  std::map<std::string, std::string> headers; ///< names lower-cased
  std::string body;
  std::string client; ///< the peer's IP address (not a forwarded-for header: unspoofable)

  /// The header's value or "" (name in any case).
  std::string header(const std::string& name) const;
};

/// At most the first `keep` bytes of `text` (never cutting a UTF-8 character), followed by
/// "... (N bytes)" when cut: for error messages that quote what a client sent.
std::string excerpt(std::string_view text, std::size_t keep = 100);

struct response {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
};

using reply_fn = std::function<void(response)>;
using handler = std::function<void(request&&, reply_fn)>;
/// Builds the answer for errors the server detects itself (404, 405, 413, 400).
using error_fn = std::function<response(int status, const std::string& message)>;

/// What a server accepts (defaults: the http.* settings' defaults).
struct limits {
  std::size_t max_body_bytes = 1 << 20;          ///< larger: 413
  /// Paths (exact, without a trailing slash) whose body limit is another than
  /// max_body_bytes (e.g. a bulk route), checked once the header names the path.
  std::map<std::string, std::size_t> path_body_bytes{};
  std::size_t max_header_bytes = 16 * 1024;      ///< request line and fields: 431
  std::size_t max_headers = 100;                 ///< header fields: 431
  std::size_t max_request_line_bytes = 8 * 1024; ///< method, target, version: 414
  /// From a request's first byte to its last; also bounds each write of answers.
  std::chrono::milliseconds read_timeout{10000};
  /// A connection with nothing in progress (no request, no answer pending) is closed.
  std::chrono::milliseconds idle_timeout{30000};
  std::size_t max_pipelined = 16; ///< answers pending on one connection before it stops reading
  /// A body whose Content-Type is not JSON is a 415. Only fakes of other protocols in the
  /// test suite (a push service takes application/octet-stream) turn it off.
  bool json_bodies_only = true;
  std::size_t threads = 2;        ///< I/O threads; handlers run on them
  /// Open connections; every server given the same budget shares it.
  std::shared_ptr<connection_budget> connections = std::make_shared<connection_budget>(10000);
};

namespace detail {
struct server_core;
} // namespace detail

class server {
public:
  server(std::string host, int port, limits lim, error_fn on_error);
  /// Default limits but the body's.
  server(std::string host, int port, std::size_t max_body_bytes, error_fn on_error);
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  /// `pattern` like "/api/v1/users/{id}"; a trailing slash on either side is ignored.
  void route(const std::string& method, const std::string& pattern, handler h);

  /// Starts listening. Returns "" or the reason (naming the port).
  std::string open();
  /// Stops listening and returns once no handler runs; none is called afterwards (a
  /// request completed meanwhile is answered 503), so handlers may use objects that die
  /// after close(). Open connections are closed; replies made later, from continuations,
  /// are dropped. The handlers are destroyed here, so a reply function kept by another
  /// thread holds nothing of their owners. Not to be called from a handler.
  void close();
  int port() const { return port_; }

private:
  /// Shared with connections and reply functions, which may outlive the server.
  std::shared_ptr<detail::server_core> core_;
  int port_;
};

} // namespace herald::http
