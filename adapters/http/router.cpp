#include "adapters/http/router.hpp"

#include <algorithm>

#include "adapters/url.hpp"

namespace herald::http {

namespace {

/// Non-empty segments: "/a//b/" and "a/b" are the same path.
template <class Segment>
std::vector<Segment> split_path(std::string_view path) {
  std::vector<Segment> out;
  std::size_t start = 0;
  while (start <= path.size()) {
    auto end = std::min(path.find('/', start), path.size());
    if (end > start) {
      out.emplace_back(path.substr(start, end - start));
    }
    start = end + 1;
  }
  return out;
}

bool is_param(const std::string& segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

} // namespace

std::optional<target> parse_target(std::string_view raw) {
  if (auto scheme = raw.find("://"); !raw.starts_with('/') && scheme != std::string_view::npos) {
    auto path_start = raw.find('/', scheme + 3);
    raw = path_start == std::string_view::npos ? std::string_view{"/"} : raw.substr(path_start);
  }
  auto question = raw.find('?');
  target out;
  auto path = percent_decode(raw.substr(0, question));
  if (!path) {
    return std::nullopt;
  }
  out.path = std::move(*path);
  if (question == std::string_view::npos) {
    return out;
  }
  auto query = raw.substr(question + 1);
  while (!query.empty()) {
    auto amp = query.find('&');
    auto pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    auto eq = pair.find('=');
    if (eq == std::string_view::npos) {
      continue;
    }
    auto name = percent_decode(pair.substr(0, eq));
    auto value = percent_decode(pair.substr(eq + 1));
    if (!name || !value) {
      return std::nullopt;
    }
    out.query[std::move(*name)] = std::move(*value);
  }
  return out;
}

void router::add(const std::string& method, const std::string& pattern, handler h) {
  routes_.push_back({method, split_path<std::string>(pattern), std::move(h)});
}

router::match router::find(std::string_view method, std::string_view path) const {
  auto segments = split_path<std::string_view>(path);
  match out;
  const route* found = nullptr;
  const route* get = nullptr;
  std::vector<const route*> on_path;
  for (auto& r : routes_) {
    if (r.segments.size() != segments.size()) {
      continue;
    }
    bool same = true;
    for (std::size_t i = 0; i < segments.size() && same; ++i) {
      same = is_param(r.segments[i]) || r.segments[i] == segments[i];
    }
    if (!same) {
      continue;
    }
    on_path.push_back(&r);
    if (r.method == method) {
      found = &r;
      break;
    }
    if (r.method == "GET" && get == nullptr) {
      get = &r;
    }
  }
  if (found == nullptr && method == "HEAD") {
    found = get;
  }
  out.path_known = !on_path.empty();
  if (found != nullptr) {
    out.fn = &found->fn;
    for (std::size_t i = 0; i < segments.size(); ++i) {
      if (is_param(found->segments[i])) {
        out.params[found->segments[i].substr(1, found->segments[i].size() - 2)] = segments[i];
      }
    }
    return out;
  }
  std::vector<std::string_view> methods;
  auto add = [&](std::string_view m) {
    if (std::find(methods.begin(), methods.end(), m) == methods.end()) {
      methods.push_back(m);
    }
  };
  for (auto* r : on_path) {
    add(r->method);
    if (r->method == "GET") {
      add("HEAD");
    }
  }
  for (auto m : methods) {
    out.allow += std::string{m} + ", ";
  }
  if (out.path_known) {
    out.allow += "OPTIONS";
  }
  return out;
}

} // namespace herald::http
