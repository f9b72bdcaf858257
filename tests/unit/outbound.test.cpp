#include <boost/test/unit_test.hpp>

#include "adapters/net/outbound.hpp"

using namespace herald::net;

namespace {

const outbound_policy strict{false};
const outbound_policy insecure{true};

bool mentions(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

} // namespace

BOOST_AUTO_TEST_SUITE(outbound)

BOOST_AUTO_TEST_CASE(public_https_urls_pass) {
  for (auto url : {"https://fcm.googleapis.com/fcm/send/abc",
                   "https://updates.push.services.mozilla.com/wpush/v2/gAAAA",
                   "https://web.push.apple.com:443/QGuQ", "HTTPS://CDN.Example.com/a.png?x=1#y",
                   "https://93.184.216.34/x", "https://[2606:2800:220:1:248:1893:25c8:1946]/x",
                   "https://xn--bcher-kva.example/x", "https://example.com./x"}) {
    BOOST_TEST(check_url(url, strict) == "", url);
  }
}

BOOST_AUTO_TEST_CASE(forbidden_addresses_are_refused_naming_their_kind) {
  struct row {
    const char* url;
    const char* kind;
  };
  const row table[] = {
    {"https://127.0.0.1/x", "loopback"},
    {"https://127.8.9.10/x", "loopback"},
    {"https://2130706433/x", "loopback"},        // decimal
    {"https://0177.0.0.1/x", "loopback"},        // octal
    {"https://0x7f.1/x", "loopback"},            // hex, short
    {"https://127.1/x", "loopback"},             // short
    {"https://127.0.0.1./x", "loopback"},        // trailing root label
    {"https://[::1]/x", "loopback"},
    {"https://[::ffff:127.0.0.1]/x", "loopback"}, // IPv4-mapped
    {"https://[::ffff:7f00:1]/x", "loopback"},
    {"https://[64:ff9b::127.0.0.1]/x", "loopback"}, // NAT64
    {"https://[2002:7f00:1::]/x", "loopback"},      // 6to4
    {"https://localhost/x", "loopback name"},
    {"https://LocalHost./x", "loopback name"},
    {"https://push.localhost/x", "loopback name"},
    {"https://10.1.2.3/x", "private"},
    {"https://172.16.0.1/x", "private"},
    {"https://172.31.255.255/x", "private"},
    {"https://192.168.1.1/x", "private"},
    {"https://[::ffff:10.0.0.1]/x", "private"},
    {"https://[fc00::1]/x", "private"},
    {"https://[fd12:3456::1]/x", "private"},
    {"https://[fec0::1]/x", "private"},
    {"https://169.254.169.254/latest/meta-data", "link-local"},
    {"https://[fe80::1]/x", "link-local"},
    {"https://0.0.0.0/x", "unspecified"},
    {"https://0/x", "unspecified"},
    {"https://[::]/x", "unspecified"},
    {"https://224.0.0.1/x", "multicast"},
    {"https://[ff02::1]/x", "multicast"},
    {"https://100.64.0.1/x", "CGNAT"},
    {"https://100.127.255.254/x", "CGNAT"},
    {"https://255.255.255.255/x", "reserved"},
  };
  for (auto& r : table) {
    auto why = check_url(r.url, strict);
    BOOST_TEST(mentions(why, r.kind), r.url << " -> " << why);
  }
  // Neighbours of the ranges are public.
  for (auto url : {"https://172.32.0.1/x", "https://100.128.0.1/x", "https://169.255.0.1/x",
                   "https://11.0.0.1/x", "https://[fbff::1]/x", "https://128.0.0.1/x"}) {
    BOOST_TEST(check_url(url, strict) == "", url);
  }
}

BOOST_AUTO_TEST_CASE(only_https_without_user_information_and_with_a_plain_host) {
  BOOST_TEST(check_url("http://push.example.com/x", strict) == "must be an https:// URL");
  BOOST_TEST(mentions(check_url("ftp://push.example.com/x", insecure), "https:// or http://"));
  BOOST_TEST(mentions(check_url("push.example.com/x", strict), "is not a URL"));
  BOOST_TEST(mentions(check_url("https:///x", strict), "is not a URL"));
  BOOST_TEST(mentions(check_url("https://user@push.example.com/x", strict), "user information"));
  BOOST_TEST(mentions(check_url("https://push.example.com\\@127.0.0.1/", strict), "user information"));
  BOOST_TEST(mentions(check_url("https://127.0.0.1\\.example.com/", strict), "not a host name"));
  BOOST_TEST(mentions(check_url("https://a..b/x", strict), "not a host name"));
  BOOST_TEST(mentions(check_url("https://b\xC3\xBC" "cher.example/x", strict), "xn--"));
  BOOST_TEST(mentions(check_url("https://[fe80::1%25eth0]/x", strict), "is not a URL"));
  // A last label that starts with a digit must be an address: no top-level domain does.
  BOOST_TEST(mentions(check_url("https://1.2.3.999/x", strict), "neither"));
  BOOST_TEST(mentions(check_url("https://example.0x7f/x", strict), "neither"));
}

BOOST_AUTO_TEST_CASE(insecure_mode_accepts_http_and_loopback_only) {
  for (auto url : {"http://127.0.0.1:8080/push", "http://localhost:9/x", "https://[::1]/x",
                   "http://[::ffff:127.0.0.1]/x"}) {
    BOOST_TEST(check_url(url, insecure) == "", url);
  }
  for (auto url : {"http://10.0.0.1/x", "http://169.254.169.254/x", "http://[fd00::1]/x",
                   "http://0.0.0.0/x"}) {
    BOOST_TEST(check_url(url, insecure) != "", url);
  }
}

BOOST_AUTO_TEST_CASE(resolved_addresses_are_judged_all_together) {
  auto public_one = *parse_ip_literal("93.184.216.34");
  auto private_one = *parse_ip_literal("10.0.0.7");
  auto mapped = *parse_ip_literal("::ffff:169.254.169.254");
  BOOST_TEST(resolved_problem({public_one}, strict) == "");
  BOOST_TEST(resolved_problem({public_one, private_one}, strict)
             == "resolves to 10.0.0.7, a private address");
  BOOST_TEST(mentions(resolved_problem({mapped}, strict), "link-local"));
  BOOST_TEST(resolved_problem({}, strict) == "resolves to no address");
}

BOOST_AUTO_TEST_CASE(resolution_of_a_loopback_name_is_caught_by_the_check) {
  auto r = resolve("localhost");
  BOOST_TEST_REQUIRE(r.error == "", r.error);
  BOOST_TEST(mentions(resolved_problem(r.addresses, strict), "loopback"));
  BOOST_TEST(resolved_problem(r.addresses, insecure) == "");
  BOOST_TEST(resolve("no-such-host.invalid").error != "");
}

BOOST_AUTO_TEST_CASE(ip_literals_in_every_spelling) {
  BOOST_TEST(parse_ip_literal("2130706433")->text() == "127.0.0.1");
  BOOST_TEST(parse_ip_literal("0177.0.0.1")->text() == "127.0.0.1");
  BOOST_TEST(parse_ip_literal("[::1]")->text() == "::1");
  BOOST_TEST(!parse_ip_literal("example.com"));
  BOOST_TEST(!parse_ip_literal("127.0.0.1 x"));
  BOOST_TEST(!parse_ip_literal(""));
}

BOOST_AUTO_TEST_SUITE_END()
