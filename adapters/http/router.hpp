#pragma once

// The pure parts of http::server's request handling, apart so they are tested without
// sockets: the route table and the request target's path and query.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/http/server.hpp"

namespace herald::http {

/// A request target split and percent-decoded the way handlers see it.
struct target {
  std::string path;                         ///< decoded, without the query
  std::map<std::string, std::string> query; ///< decoded; a name given twice keeps its last value
};

/// `raw` as sent in the request line: origin form ("/a?b=c"), or absolute form
/// ("http://host/a?b=c"), whose scheme and authority are dropped. Nothing when a "%" is not
/// followed by two hex digits. Pairs without "=" are ignored; "+" stays a plus sign.
std::optional<target> parse_target(std::string_view raw);

/// Routes by method and path pattern ("/api/v1/users/{id}": each {name} segment matches one
/// path segment and is handed over in request::params). A trailing slash on either side is
/// ignored. HEAD is served by the path's GET route unless it has a HEAD route of its own.
/// Routes are added before the server opens; lookups may then run on any thread.
class router {
public:
  void add(const std::string& method, const std::string& pattern, handler h);

  struct match {
    const handler* fn = nullptr; ///< null: no route for this method (see path_known)
    std::map<std::string, std::string> params;
    bool path_known = false; ///< some method has a route on this path
    std::string allow;       ///< when fn is null and path_known: the path's methods, for Allow
  };
  match find(std::string_view method, std::string_view path) const;

private:
  struct route {
    std::string method;
    std::vector<std::string> segments;
    handler fn;
  };
  std::vector<route> routes_;
};

} // namespace herald::http
