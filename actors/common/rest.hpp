#pragma once

// Herald's REST envelope: {"success", "data", "error", "message", "meta"} on every answer.

#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "adapters/http/server.hpp"

namespace herald::rest {

http::response ok(int status, nlohmann::json data, std::string message,
                  nlohmann::json meta = nullptr);
http::response fail(int status, std::string error, std::string message = {});
/// ok() for a hot path: `data_json` is the data object's JSON text, written as it is.
http::response ok_text(int status, std::string_view data_json, std::string_view message);

/// The same, with a correlation id header.
http::response with_correlation(http::response r, const std::string& correlation_id);

/// ?page=&limit= of every list endpoint: page from 1 (default 1), limit 1-100 (default 20).
struct page_request {
  std::int64_t page = 1;
  std::int64_t limit = 20;
};
inline constexpr std::int64_t max_page_limit = 100;

/// The page `query` asks for, or nullopt with `error` naming the parameter.
std::optional<page_request> parse_page(const std::map<std::string, std::string>& query,
                                       std::string& error);

/// A list's meta: total, limit, page, total_pages, has_next, has_previous.
nlohmann::json page_meta(std::int64_t total, std::int64_t page, std::int64_t limit);

/// For http::server's own errors (404, 405, 413, ...).
http::response server_error(int status, const std::string& message);

/// An error continuation for a call to `service`: answers 503 naming the service.
std::function<void(const std::string&)> unavailable(http::reply_fn reply, std::string service);

/// How deep JSON bodies may nest (objects and arrays): enough for any request Herald
/// takes, far too little for a body built to exhaust the stack of whatever walks it
/// recursively (serialising, rendering, freeing).
inline constexpr int max_json_depth = 32;

/// True when `text` nests objects and arrays more than `limit` deep (strings and their
/// escapes are skipped; the text need not be valid JSON). Stops reading at that point.
bool nested_deeper_than(std::string_view text, int limit);

/// Parses a JSON object body; on failure answers `reply` with a 400 naming the issue (a
/// body nested deeper than max_json_depth is refused before it is parsed).
std::optional<nlohmann::json> parse_object(const std::string& body, const http::reply_fn& reply);

/// A request read from a JSON object body by `read(body, error)` (a reader such as
/// parse_login, answering an optional); when either step fails, answers `reply` with the
/// 400 naming the problem and returns nothing.
template <class Read>
auto read_body(const std::string& body, const http::reply_fn& reply, Read read)
  -> decltype(read(std::declval<const nlohmann::json&>(), std::declval<std::string&>())) {
  auto object = parse_object(body, reply);
  if (!object) {
    return std::nullopt;
  }
  std::string error;
  auto request = read(*object, error);
  if (!request) {
    reply(fail(400, error));
  }
  return request;
}

} // namespace herald::rest
