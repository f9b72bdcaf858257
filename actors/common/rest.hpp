#pragma once

// Herald's REST envelope: {"success", "data", "error", "message", "meta"} on every answer.

#include <nlohmann/json.hpp>
#include <string>

#include "adapters/http/server.hpp"

namespace herald::rest {

http::response ok(int status, nlohmann::json data, std::string message,
                  nlohmann::json meta = nullptr);
http::response fail(int status, std::string error, std::string message = {});

/// The same, with a correlation id header.
http::response with_correlation(http::response r, const std::string& correlation_id);

/// For http::server's own errors (404, 405, 413, ...).
http::response server_error(int status, const std::string& message);

/// Parses a JSON object body; on failure fills `problem` with a 400 naming the issue.
std::optional<nlohmann::json> parse_object(const std::string& body, http::response& problem);

} // namespace herald::rest
