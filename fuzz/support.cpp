#include "fuzz/support.hpp"

#include "actors/common/rest.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace herald::fuzz {

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "invariant broken: %s\n", what);
    std::abort();
  }
}

std::vector<std::string> fields(const std::uint8_t* data, std::size_t size, std::size_t count) {
  std::string_view rest{reinterpret_cast<const char*>(data), size};
  std::vector<std::string> out;
  while (out.size() + 1 < count) {
    auto nul = rest.find('\0');
    out.emplace_back(rest.substr(0, nul));
    rest = nul == std::string_view::npos ? std::string_view{} : rest.substr(nul + 1);
  }
  out.emplace_back(rest);
  return out;
}

namespace {

void check_envelope(const http::response& r, int status) {
  require(r.status == status, "the answer carries the status it was given");
  auto body = nlohmann::json::parse(r.body, nullptr, false);
  require(body.is_object() && body["success"] == false && body["error"].is_string(),
          "a refusal is a JSON envelope with success false and an error string");
}

} // namespace

std::optional<nlohmann::json> request_body(const std::uint8_t* data, std::size_t size) {
  std::optional<http::response> refusal;
  auto body = rest::parse_object(std::string{reinterpret_cast<const char*>(data), size},
                                 [&](http::response r) { refusal = std::move(r); });
  require(body.has_value() != refusal.has_value(), "parse_object answers exactly on refusal");
  if (refusal) {
    check_envelope(*refusal, 400);
    return std::nullopt;
  }
  require(body->is_object(), "an accepted body is an object");
  require(depth(*body) <= rest::max_json_depth, "an accepted body nests at most max_json_depth");
  return body;
}

void check_refusal(int status, const std::string& error) {
  require(!error.empty(), "a refusal says why");
  check_envelope(rest::fail(status, error), status);
}

int depth(const nlohmann::json& j) {
  if (!j.is_structured()) {
    return 0;
  }
  int deepest = 0;
  for (auto& item : j) {
    deepest = std::max(deepest, depth(item));
  }
  return deepest + 1;
}

} // namespace herald::fuzz
