#pragma once

// Outbound addresses: which URLs Herald may send to (Web Push endpoints, push images and
// links). One rule for every service, so a URL the users service registers is one the
// templates service and the push sender would accept too.
//
// A URL passes when it is https:// (http:// too under `allow_insecure`), has no user
// information, and its host is a DNS name of letters, digits, '-' and '.' or an IP
// literal whose address is public. Refused addresses: unspecified (0.0.0.0/8, ::),
// loopback (127/8, ::1, and the names localhost and *.localhost), private (RFC 1918,
// fc00::/7, fec0::/10), shared CGNAT space (100.64/10), link-local (169.254/16,
// fe80::/10), multicast (224/4, ff00::/8) and reserved (240/4, broadcast). An IPv6
// address that carries an IPv4 one (mapped ::ffff:a.b.c.d, compatible ::a.b.c.d, NAT64
// 64:ff9b::/96, 6to4 2002::/16) is judged by that IPv4 address. IPv4 is read in every
// spelling the C resolver reads (inet_aton: 2130706433, 0177.0.0.1, 0x7f.1, 127.1), and a
// host whose last label starts with a digit must be such an address (no top-level domain
// does), so "127.0.0.1." or "1.2.3.999" cannot slip through as names.
// `allow_insecure` (push.allow_insecure_endpoints, development and tests only) accepts
// http:// and loopback addresses; everything else stays refused.
//
// A name is only as good as what it resolves to, and that may change after any check:
// check_url() judges what the URL itself says; whoever connects resolves the name, judges
// every address with resolved_problem() and connects only to an address it judged.
// resolve() is blocking (getaddrinfo): never call it on an actor scheduler thread.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace herald::net {

struct outbound_policy {
  bool allow_insecure = false; ///< http:// and loopback accepted (development and tests)
};

/// One IPv4 or IPv6 address.
struct ip_address {
  bool v6 = false;
  std::array<std::uint8_t, 16> bytes{}; ///< IPv4: the first 4 bytes
  std::string text() const;             ///< "127.0.0.1", "::1"
};

/// The host as an IP literal (any IPv4 spelling inet_aton reads; IPv6 with or without
/// brackets), or nullopt when it is a name.
std::optional<ip_address> parse_ip_literal(std::string_view host);

/// "" when Herald may send to `a`, else what kind of address it is ("a loopback address").
std::string address_problem(const ip_address& a, const outbound_policy& policy);

/// "" when `url` is one Herald may send to (see above), else why not, e.g. "must be an
/// https:// URL" or "points at 10.0.0.7, a private address" — to follow "field 'x' ".
std::string check_url(std::string_view url, const outbound_policy& policy);

/// "" when every address `host` resolved to is one Herald may send to, else the first
/// that is not, named ("resolves to 10.0.0.7, a private address"). No addresses is a
/// problem too.
std::string resolved_problem(const std::vector<ip_address>& addresses,
                             const outbound_policy& policy);

struct resolution {
  std::vector<ip_address> addresses;
  std::string error; ///< set when the name did not resolve
};

/// The host's addresses from the system resolver. BLOCKING: call it from a detached actor
/// or an I/O thread, then judge the answer with resolved_problem().
resolution resolve(const std::string& host);

} // namespace herald::net
