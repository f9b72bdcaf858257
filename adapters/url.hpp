#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace herald {

/// The parts of a server URL as the adapters need them (HERALD_*_URL settings).
/// Text fields hold decoded values; `port` is 0 when the URL names none.
struct url {
  std::string scheme;   ///< lower-case: "smtp", "smtps", "redis", "amqp", ...
  std::string user;     ///< percent-decoded
  std::string password; ///< percent-decoded
  std::string host;     ///< "127.0.0.1", "localhost"; "[::1]" is given as "::1"
  int port = 0;         ///< 0 when absent
  std::string path;     ///< without the leading '/', percent-decoded; "" when absent
  std::map<std::string, std::string> query; ///< `?a=b&c=d`, percent-decoded
};

/// Parses `scheme://[user[:password]@]host[:port][/path][?query][#fragment]`
/// (the fragment is ignored). Returns std::nullopt and sets `*error` (when given) to a
/// short reason on a malformed URL; never throws for bad input. A password may contain
/// an unencoded '@' (the last '@' ends the user information). '+' is kept as is.
std::optional<url> parse_url(std::string_view text, std::string* error = nullptr);

/// `text` with its %XX sequences decoded ('+' stays a plus sign); std::nullopt when a '%'
/// is not followed by two hex digits.
std::optional<std::string> percent_decode(std::string_view text);

} // namespace herald
