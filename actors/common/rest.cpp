#include "actors/common/rest.hpp"

#include <charconv>

#include "actors/common/json_writer.hpp"

namespace herald::rest {

namespace {

const char* reason(int status) {
  switch (status) {
    case 400: return "invalid request";
    case 401: return "unauthorized";
    case 403: return "forbidden";
    case 404: return "not found";
    case 405: return "method not allowed";
    case 409: return "conflict";
    case 413: return "request body too large";
    case 415: return "unsupported media type";
    case 422: return "unprocessable request";
    case 429: return "rate limited";
    case 503: return "service unavailable";
    default: return status >= 500 ? "internal error" : "request failed";
  }
}

std::string dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

} // namespace

http::response ok(int status, nlohmann::json data, std::string message, nlohmann::json meta) {
  nlohmann::json body = {{"success", true},
                         {"data", std::move(data)},
                         {"error", nullptr},
                         {"message", std::move(message)},
                         {"meta", std::move(meta)}};
  return {status, dump(body), "application/json", {}};
}

http::response ok_text(int status, std::string_view data_json, std::string_view message) {
  auto body = json_writer{}
                .field("success", true)
                .raw_field("data", data_json)
                .null_field("error")
                .field("message", message)
                .null_field("meta")
                .finish();
  return {status, std::move(body), "application/json", {}};
}

http::response fail(int status, std::string error, std::string message) {
  if (message.empty()) {
    message = reason(status);
  }
  // Errors quote what the client sent (ids, codes, paths); past 500 bytes they are cut, so
  // an answer never echoes a client's megabyte back.
  error = http::excerpt(error, 500);
  nlohmann::json body = {{"success", false},
                         {"data", nullptr},
                         {"error", std::move(error)},
                         {"message", std::move(message)},
                         {"meta", nullptr}};
  return {status, dump(body), "application/json", {}};
}

http::response with_correlation(http::response r, const std::string& correlation_id) {
  r.headers.emplace_back("X-Correlation-ID", correlation_id);
  return r;
}

std::optional<page_request> parse_page(const std::map<std::string, std::string>& query,
                                       std::string& error) {
  page_request out;
  auto read = [&](const char* name, std::int64_t max, std::int64_t& target) {
    auto i = query.find(name);
    if (i == query.end()) {
      return true;
    }
    std::int64_t v = 0;
    auto& text = i->second;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc{} || end != text.data() + text.size() || v < 1 || v > max) {
      error = std::string{"query parameter '"} + name + "' must be an integer from 1 to "
              + std::to_string(max) + ", got '" + text.substr(0, 32) + "'";
      return false;
    }
    target = v;
    return true;
  };
  if (!read("page", 1000000000, out.page) || !read("limit", max_page_limit, out.limit)) {
    return std::nullopt;
  }
  return out;
}

nlohmann::json page_meta(std::int64_t total, std::int64_t page, std::int64_t limit) {
  auto pages = (total + limit - 1) / limit;
  return {{"total", total},
          {"limit", limit},
          {"page", page},
          {"total_pages", pages},
          {"has_next", page < pages},
          {"has_previous", page > 1}};
}

http::response server_error(int status, const std::string& message) {
  return fail(status, message);
}

std::function<void(const std::string&)> unavailable(http::reply_fn reply, std::string service) {
  return [reply = std::move(reply), service = std::move(service)](const std::string& e) {
    reply(fail(503, service + ": " + e));
  };
}

bool nested_deeper_than(std::string_view text, int limit) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > limit) {
        return true;
      }
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return false;
}

std::optional<nlohmann::json> parse_object(const std::string& body, const http::reply_fn& reply) {
  if (nested_deeper_than(body, max_json_depth)) {
    reply(fail(400, "body nests objects and arrays more than " + std::to_string(max_json_depth)
                      + " levels deep"));
    return std::nullopt;
  }
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded()) {
    reply(fail(400, "body is not valid JSON"));
    return std::nullopt;
  }
  if (!j.is_object()) {
    reply(fail(400, "body must be a JSON object"));
    return std::nullopt;
  }
  return j;
}

} // namespace herald::rest
