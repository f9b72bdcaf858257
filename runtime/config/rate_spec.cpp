#include "runtime/config/rate_spec.hpp"

namespace herald::config {

std::optional<rate_spec> parse_rate_spec(std::string_view text, std::string* error) {
  auto fail = [&](std::string why) -> std::optional<rate_spec> {
    if (error != nullptr) {
      *error = "expected 0, N/s, N/min or N/h, got '" + std::string{text} + "'" + why;
    }
    return std::nullopt;
  };
  if (text == "0") {
    return rate_spec{};
  }
  auto slash = text.find('/');
  if (slash == std::string_view::npos || slash == 0) {
    return fail("");
  }
  auto digits = text.substr(0, slash);
  if (digits.size() > 10 || digits.front() == '0') {
    return fail(digits.front() == '0' ? "" : " (N at most 1000000000)");
  }
  std::int64_t n = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') {
      return fail("");
    }
    n = n * 10 + (c - '0');
  }
  if (n > 1000000000) {
    return fail(" (N at most 1000000000)");
  }
  auto unit = text.substr(slash + 1);
  rate_spec r;
  r.limit = n;
  if (unit == "s") {
    r.window = std::chrono::seconds{1};
  } else if (unit == "min") {
    r.window = std::chrono::minutes{1};
  } else if (unit == "h") {
    r.window = std::chrono::hours{1};
  } else {
    return fail("");
  }
  return r;
}

} // namespace herald::config
