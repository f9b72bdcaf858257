#include "adapters/url.hpp"

#include <algorithm>
#include <cctype>

namespace herald {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

bool valid_scheme(std::string_view s) {
  if (s.empty() || !std::isalpha(static_cast<unsigned char>(s[0]))) {
    return false;
  }
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.';
  });
}

std::optional<int> parse_port(std::string_view s) {
  if (s.empty() || s.size() > 5) {
    return std::nullopt;
  }
  int port = 0;
  for (char c : s) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    port = port * 10 + (c - '0');
  }
  if (port < 1 || port > 65535) {
    return std::nullopt;
  }
  return port;
}

std::optional<url> fail(std::string* error, const char* reason) {
  if (error != nullptr) {
    *error = reason;
  }
  return std::nullopt;
}

} // namespace

std::optional<url> parse_url(std::string_view text, std::string* error) {
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) {
      return fail(error, "whitespace or control character in URL");
    }
  }
  auto scheme_end = text.find("://");
  if (scheme_end == std::string_view::npos) {
    return fail(error, "missing scheme (expected scheme://...)");
  }
  url result;
  auto scheme = text.substr(0, scheme_end);
  if (!valid_scheme(scheme)) {
    return fail(error, "invalid scheme");
  }
  result.scheme.reserve(scheme.size());
  for (char c : scheme) {
    result.scheme += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  auto rest = text.substr(scheme_end + 3);
  if (auto hash = rest.find('#'); hash != std::string_view::npos) {
    rest = rest.substr(0, hash);
  }
  auto authority_end = std::min(rest.find('/'), rest.find('?'));
  auto authority = rest.substr(0, authority_end);
  auto tail = authority_end == std::string_view::npos ? std::string_view{}
                                                      : rest.substr(authority_end);
  // -- user information ---
  if (auto at = authority.rfind('@'); at != std::string_view::npos) {
    auto userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    auto colon = userinfo.find(':');
    auto user = percent_decode(userinfo.substr(0, colon));
    auto password = colon == std::string_view::npos
                      ? std::optional<std::string>{std::string{}}
                      : percent_decode(userinfo.substr(colon + 1));
    if (!user || !password) {
      return fail(error, "invalid percent-encoding in user information");
    }
    result.user = std::move(*user);
    result.password = std::move(*password);
  }
  // -- host and port ---
  std::string_view port_text;
  bool has_port = false;
  if (!authority.empty() && authority[0] == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) {
      return fail(error, "unterminated '[' in host");
    }
    result.host = std::string{authority.substr(1, close - 1)};
    auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') {
        return fail(error, "unexpected text after ']'");
      }
      has_port = true;
      port_text = after.substr(1);
    }
  } else {
    auto colon = authority.find(':');
    result.host = std::string{authority.substr(0, colon)};
    if (colon != std::string_view::npos) {
      has_port = true;
      port_text = authority.substr(colon + 1);
    }
  }
  if (result.host.empty()) {
    return fail(error, "missing host");
  }
  if (result.host.find_first_of("[]%") != std::string::npos) {
    return fail(error, "invalid character in host");
  }
  if (has_port) {
    auto port = parse_port(port_text);
    if (!port) {
      return fail(error, "invalid port (expected 1-65535)");
    }
    result.port = *port;
  }
  // -- path and query ---
  auto question = tail.find('?');
  auto path = tail.substr(0, question);
  if (!path.empty()) {
    auto decoded = percent_decode(path.substr(1)); // drop the leading '/'
    if (!decoded) {
      return fail(error, "invalid percent-encoding in path");
    }
    result.path = std::move(*decoded);
  }
  if (question == std::string_view::npos) {
    return result;
  }
  auto query = tail.substr(question + 1);
  while (!query.empty()) {
    auto amp = query.find('&');
    auto item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (item.empty()) {
      continue;
    }
    auto eq = item.find('=');
    auto key = percent_decode(item.substr(0, eq));
    auto value = eq == std::string_view::npos ? std::optional<std::string>{std::string{}}
                                              : percent_decode(item.substr(eq + 1));
    if (!key || !value) {
      return fail(error, "invalid percent-encoding in query");
    }
    if (key->empty()) {
      return fail(error, "empty query parameter name");
    }
    result.query[std::move(*key)] = std::move(*value);
  }
  return result;
}

std::optional<std::string> percent_decode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    if (i + 2 >= in.size()) {
      return std::nullopt;
    }
    int hi = hex_value(in[i + 1]);
    int lo = hex_value(in[i + 2]);
    if (hi < 0 || lo < 0) {
      return std::nullopt;
    }
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

} // namespace herald
