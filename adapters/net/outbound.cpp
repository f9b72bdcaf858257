#include "adapters/net/outbound.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cstring>

#include "adapters/url.hpp"

namespace herald::net {

namespace {

ip_address v4(const std::uint8_t* b) {
  ip_address a;
  std::copy(b, b + 4, a.bytes.begin());
  return a;
}

/// The IPv4 address an IPv6 one carries, if it is of a kind that carries one.
std::optional<ip_address> embedded_v4(const ip_address& a) {
  const auto& b = a.bytes;
  auto zeros = [&](int from, int to) {
    return std::all_of(b.begin() + from, b.begin() + to, [](auto x) { return x == 0; });
  };
  if (zeros(0, 10) && b[10] == 0xff && b[11] == 0xff) {
    return v4(&b[12]); // mapped ::ffff:a.b.c.d
  }
  if (zeros(0, 12) && !zeros(12, 16)) {
    return v4(&b[12]); // compatible ::a.b.c.d (deprecated, still routed by some stacks)
  }
  if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && zeros(4, 12)) {
    return v4(&b[12]); // NAT64 64:ff9b::a.b.c.d
  }
  if (b[0] == 0x20 && b[1] == 0x02) {
    return v4(&b[2]); // 6to4 2002:aabb:ccdd::
  }
  return std::nullopt;
}

std::string v4_problem(const std::uint8_t* b, const outbound_policy& policy) {
  if (b[0] == 127) {
    return policy.allow_insecure ? "" : "a loopback address";
  }
  if (b[0] == 0) {
    return "an unspecified address";
  }
  if (b[0] == 10 || (b[0] == 172 && (b[1] & 0xf0) == 16) || (b[0] == 192 && b[1] == 168)) {
    return "a private address";
  }
  if (b[0] == 100 && (b[1] & 0xc0) == 64) {
    return "a shared (CGNAT) address";
  }
  if (b[0] == 169 && b[1] == 254) {
    return "a link-local address";
  }
  if ((b[0] & 0xf0) == 224) {
    return "a multicast address";
  }
  if ((b[0] & 0xf0) == 240) {
    return "a reserved address";
  }
  return {};
}

bool is_host_name(std::string_view host) {
  if (host.empty() || host.size() > 253) {
    return false;
  }
  std::size_t start = 0;
  while (start < host.size()) {
    auto dot = host.find('.', start);
    auto label = host.substr(start, dot == std::string_view::npos ? std::string_view::npos
                                                                   : dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-'
        || !std::all_of(label.begin(), label.end(), [](char c) {
             return std::isalnum(static_cast<unsigned char>(c)) || c == '-';
           })) {
      return false;
    }
    if (dot == std::string_view::npos) {
      break;
    }
    start = dot + 1;
  }
  return true;
}

std::string lower(std::string_view s) {
  std::string out{s};
  for (auto& c : out) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

} // namespace

std::string ip_address::text() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), buf, sizeof buf);
  return buf;
}

std::optional<ip_address> parse_ip_literal(std::string_view host) {
  std::string h{host};
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') {
    h = h.substr(1, h.size() - 2);
  }
  ip_address a;
  if (h.find(':') != std::string::npos) {
    if (inet_pton(AF_INET6, h.c_str(), a.bytes.data()) != 1) {
      return std::nullopt;
    }
    a.v6 = true;
    return a;
  }
  // inet_aton, unlike inet_pton, reads every spelling getaddrinfo and browsers accept;
  // it also stops at a space, so only a host of address characters is given to it.
  bool address_chars = !h.empty() && std::all_of(h.begin(), h.end(), [](char c) {
    return std::isxdigit(static_cast<unsigned char>(c)) || c == '.' || c == 'x' || c == 'X';
  });
  in_addr in{};
  if (!address_chars || inet_aton(h.c_str(), &in) == 0) {
    return std::nullopt;
  }
  std::memcpy(a.bytes.data(), &in.s_addr, 4);
  return a;
}

std::string address_problem(const ip_address& a, const outbound_policy& policy) {
  if (!a.v6) {
    return v4_problem(a.bytes.data(), policy);
  }
  const auto& b = a.bytes;
  bool zero_prefix = std::all_of(b.begin(), b.begin() + 15, [](auto x) { return x == 0; });
  if (zero_prefix && b[15] == 1) {
    return policy.allow_insecure ? "" : "a loopback address";
  }
  if (zero_prefix && b[15] == 0) {
    return "an unspecified address";
  }
  if (auto inner = embedded_v4(a)) {
    auto p = v4_problem(inner->bytes.data(), policy);
    return p.empty() ? p : p + " (" + inner->text() + " inside IPv6)";
  }
  if ((b[0] & 0xfe) == 0xfc || (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0)) {
    return "a private address";
  }
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) {
    return "a link-local address";
  }
  if (b[0] == 0xff) {
    return "a multicast address";
  }
  return {};
}

std::string check_url(std::string_view text, const outbound_policy& policy) {
  std::string why;
  auto u = parse_url(text, &why);
  if (!u) {
    return "is not a URL: " + why;
  }
  if (u->scheme != "https" && !(policy.allow_insecure && u->scheme == "http")) {
    return policy.allow_insecure ? "must be an https:// or http:// URL"
                                 : "must be an https:// URL";
  }
  auto authority = text.substr(text.find("://") + 3);
  authority = authority.substr(0, authority.find_first_of("/?#"));
  if (authority.find('@') != std::string_view::npos) {
    return "must not carry user information ('@' before the host)";
  }
  auto host = u->host;
  if (host.size() > 1 && host.back() == '.') {
    host.pop_back(); // the root label: "example.com." is example.com
  }
  auto last_label = host.substr(host.rfind('.') == std::string::npos ? 0 : host.rfind('.') + 1);
  bool numeric = host.find(':') != std::string::npos
                 || (!last_label.empty() && std::isdigit(static_cast<unsigned char>(last_label[0])));
  if (numeric) {
    auto address = parse_ip_literal(host);
    if (!address) {
      return "has host '" + u->host + "', which is neither a host name nor an IP address";
    }
    if (auto p = address_problem(*address, policy); !p.empty()) {
      return "points at " + address->text() + ", " + p;
    }
    return {};
  }
  if (!is_host_name(host)) {
    return "has host '" + u->host
           + "', which is not a host name (letters, digits, '-' and '.'; international "
             "names in their xn-- form)";
  }
  auto name = lower(host);
  if (!policy.allow_insecure && (name == "localhost" || name.ends_with(".localhost"))) {
    return "points at " + u->host + ", a loopback name";
  }
  return {};
}

std::string resolved_problem(const std::vector<ip_address>& addresses,
                             const outbound_policy& policy) {
  if (addresses.empty()) {
    return "resolves to no address";
  }
  for (const auto& a : addresses) {
    if (auto p = address_problem(a, policy); !p.empty()) {
      return "resolves to " + a.text() + ", " + p;
    }
  }
  return {};
}

resolution resolve(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  resolution r;
  if (int rc = getaddrinfo(host.c_str(), nullptr, &hints, &found); rc != 0) {
    r.error = gai_strerror(rc);
    return r;
  }
  for (auto* i = found; i != nullptr; i = i->ai_next) {
    ip_address a;
    if (i->ai_family == AF_INET) {
      auto* in = reinterpret_cast<const sockaddr_in*>(i->ai_addr);
      std::memcpy(a.bytes.data(), &in->sin_addr, 4);
    } else if (i->ai_family == AF_INET6) {
      auto* in6 = reinterpret_cast<const sockaddr_in6*>(i->ai_addr);
      std::memcpy(a.bytes.data(), &in6->sin6_addr, 16);
      a.v6 = true;
    } else {
      continue;
    }
    r.addresses.push_back(a);
  }
  freeaddrinfo(found);
  return r;
}

} // namespace herald::net
