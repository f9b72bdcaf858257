#pragma once

// An HTTP server on cpprestsdk's listener with a small router. Handlers run on
// cpprestsdk's I/O threads, never on CAF's scheduler; they must not block for long and
// answer through the reply function, exactly once, from any thread.

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

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

class server {
public:
  server(std::string host, int port, std::size_t max_body_bytes, error_fn on_error);
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  /// `pattern` like "/api/v1/users/{id}"; a trailing slash on either side is ignored.
  void route(const std::string& method, const std::string& pattern, handler h);

  /// Starts listening. Returns "" or the reason (naming the port).
  std::string open();
  /// Stops listening and returns once no handler runs; none is called afterwards (a
  /// request whose body arrives later is answered 503), so handlers may use objects that
  /// die after close(). Replies made later, from continuations, are dropped.
  void close();
  int port() const { return port_; }

private:
  struct impl;
  std::unique_ptr<impl> impl_;
  int port_;
};

} // namespace herald::http
