// http::client against Herald's own HTTP server on loopback, in this process: answers come
// back as values (status, headers, body), one connection is kept and reused across calls,
// the body cap, the connect and total timeouts and refused connections are transport
// errors, and a pinned address is connected to without resolving the URL's host.

#include <boost/test/unit_test.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mutex>
#include <vector>

#include "actors/common/rest.hpp"
#include "adapters/http/client.hpp"
#include "adapters/http/server.hpp"
#include "tests/support/free_port.hpp"

using namespace std::chrono_literals;
namespace http = herald::http;

namespace herald::http {
std::ostream& operator<<(std::ostream& out, transport_error e) {
  return out << to_string(e);
}
} // namespace herald::http

namespace {

const std::vector<std::pair<std::string, std::string>> json_type{
  {"Content-Type", "application/json"}};

using herald::test::free_port;

/// A server with a few routes; replies to /silent are held until the fixture ends.
struct served {
  int port = free_port();
  http::server server{"127.0.0.1", port, http::limits{}, herald::rest::server_error};
  std::mutex mtx;
  std::vector<http::reply_fn> held;
  std::vector<std::string> seen_bodies;

  served() {
    server.route("POST", "/echo", [this](http::request&& r, http::reply_fn reply) {
      {
        std::lock_guard lock{mtx};
        seen_bodies.push_back(r.body);
      }
      http::response a{429, "{\"got\":\"" + r.header("x-probe") + "\"}", "application/json",
                       {{"Retry-After", "17"}}};
      reply(std::move(a));
    });
    server.route("GET", "/big", [](http::request&&, http::reply_fn reply) {
      reply({200, std::string(4096, 'x'), "text/plain", {}});
    });
    server.route("GET", "/silent", [this](http::request&&, http::reply_fn reply) {
      std::lock_guard lock{mtx};
      held.push_back(std::move(reply));
    });
    auto e = server.open();
    BOOST_REQUIRE_MESSAGE(e.empty(), e);
  }
  ~served() {
    for (auto& r : held) {
      r({200, "{}", "application/json", {}});
    }
    server.close();
  }
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port) + path;
  }
};

} // namespace

BOOST_AUTO_TEST_SUITE(http_client)

BOOST_AUTO_TEST_CASE(answers_come_back_as_values_with_status_headers_and_body) {
  served s;
  http::client c{{}};
  http::client_request r{"POST", s.url("/echo"),
                         {{"X-Probe", "p1"}, {"Content-Type", "application/json"}},
                         "{\"a\": 1}"};
  auto a = c.send(r);
  BOOST_TEST(a.answered());
  BOOST_TEST(a.status == 429);
  BOOST_TEST(a.http_version == 11);
  BOOST_TEST(a.header("Retry-After") == "17");
  BOOST_TEST(a.header("content-type") == "application/json");
  BOOST_TEST(a.body == "{\"got\":\"p1\"}");
  std::lock_guard lock{s.mtx};
  BOOST_TEST(s.seen_bodies.at(0) == "{\"a\": 1}");
}

BOOST_AUTO_TEST_CASE(many_calls_share_one_kept_alive_connection) {
  served s;
  http::client c{{}};
  for (int i = 0; i < 50; ++i) {
    auto a = c.send({"POST", s.url("/echo"), json_type, "[" + std::to_string(i) + "]"});
    BOOST_REQUIRE(a.status == 429);
  }
  BOOST_TEST(c.connections_opened() == 1u);
  std::lock_guard lock{s.mtx};
  BOOST_TEST(s.seen_bodies.size() == 50u);
}

BOOST_AUTO_TEST_CASE(a_body_over_the_cap_is_too_large_not_buffered) {
  served s;
  http::client_settings cfg;
  cfg.max_response_bytes = 1000;
  http::client c{cfg};
  auto a = c.send({"GET", s.url("/big"), {}, {}});
  BOOST_TEST(!a.answered());
  BOOST_TEST(a.error == http::transport_error::too_large);
  BOOST_TEST(a.body.empty());
  cfg.max_response_bytes = 4096;
  http::client exact{cfg};
  BOOST_TEST(exact.send({"GET", s.url("/big"), {}, {}}).body.size() == 4096u);
}

BOOST_AUTO_TEST_CASE(a_port_nobody_listens_on_is_refused) {
  http::client c{{}};
  auto a = c.send({"POST", "http://127.0.0.1:" + std::to_string(free_port()) + "/x", {}, "{}"});
  BOOST_TEST(a.error == http::transport_error::refused);
  BOOST_TEST(!a.error_text.empty());
}

BOOST_AUTO_TEST_CASE(a_silent_server_is_a_timeout_not_a_hang) {
  served s;
  http::client_settings cfg;
  cfg.timeout = 300ms;
  http::client c{cfg};
  auto start = std::chrono::steady_clock::now();
  auto a = c.send({"GET", s.url("/silent"), {}, {}});
  auto took = std::chrono::steady_clock::now() - start;
  // The behaviour is the error kind. libcurl promises no lower bound to the millisecond
  // (it has fired at 299.7 ms for 300), only that the transfer ends once the timeout is
  // up: the upper bound catches a client that hangs; speed belongs in bench/.
  BOOST_TEST(a.error == http::transport_error::timeout);
  BOOST_TEST(took < 3s);
}

BOOST_AUTO_TEST_CASE(a_pinned_address_is_used_instead_of_resolving_the_host) {
  served s;
  http::client c{{}};
  auto url = "http://fcm-pin-test.invalid:" + std::to_string(s.port) + "/echo";
  auto unpinned = c.send({"POST", url, json_type, "[1]"});
  BOOST_TEST(unpinned.error == http::transport_error::resolve);

  auto loopback = herald::net::parse_ip_literal("127.0.0.1");
  BOOST_REQUIRE(loopback);
  auto pinned = c.send({"POST", url, json_type, "[1]", *loopback});
  BOOST_TEST(pinned.answered());
  BOOST_TEST(pinned.status == 429);
  // The pin applies to that call only.
  BOOST_TEST(c.send({"POST", url, json_type, "[1]"}).error == http::transport_error::resolve);
}

BOOST_AUTO_TEST_CASE(form_encoding_keeps_unreserved_and_escapes_the_rest) {
  BOOST_TEST(http::form_encode("urn:ietf:params:oauth:grant-type:jwt-bearer")
             == "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer");
  BOOST_TEST(http::form_encode("aZ09-._~ +/=") == "aZ09-._~%20%2B%2F%3D");
}

BOOST_AUTO_TEST_SUITE_END()
