// The HTTP server's connection cap on a real Herald node: connections opened past
// http.max_connections and left idle make the longest-idle ones give way, so the process's
// descriptors stay bounded and /health keeps answering on every port (the cap is the
// process's, shared by its ports). The other limits are shown on a bare server in
// tests/unit/http_server.test.cpp.

#include <boost/test/unit_test.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>

#include "support/test_env.hpp"

using namespace herald::test;

namespace {

/// A TCP connection to 127.0.0.1:`port` that sends nothing; -1 when it cannot connect.
int open_idle_connection(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

/// Descriptors open in this process (the test's and the node's).
std::size_t open_descriptors() {
  auto fds = std::filesystem::directory_iterator{"/proc/self/fd"};
  return static_cast<std::size_t>(std::distance(fds, std::filesystem::directory_iterator{}));
}

int port_of(const std::string& url) {
  return std::stoi(url.substr(url.rfind(':') + 1));
}

} // namespace

BOOST_AUTO_TEST_SUITE(http_limits)

BOOST_AUTO_TEST_CASE(idle_connections_past_the_cap_never_keep_health_from_answering) {
  constexpr std::size_t cap = 20;
  running_node node{{{"HERALD_HTTP_MAX_CONNECTIONS", std::to_string(cap)}}};
  auto before = open_descriptors();
  std::vector<int> idle;
  for (int i = 0; i < 200; ++i) {
    // Gateway and users ports in turn: one budget for the whole process.
    auto fd = open_idle_connection(port_of(node.url(i % 2)));
    BOOST_REQUIRE_NE(fd, -1);
    idle.push_back(fd);
  }
  // The test holds its 200 ends; the node at most `cap` of the other ends (plus a margin
  // for what its pools may open meanwhile).
  std::size_t now = 0;
  BOOST_TEST(eventually(
               [&] {
                 now = open_descriptors();
                 return now <= before + idle.size() + cap + 10;
               },
               std::chrono::seconds{10}),
             "descriptors: " << before << " before, " << now << " with 200 idle connections");
  for (int offset : {0, 1, 0}) {
    auto r = http_call("GET", node.url(offset) + "/health");
    BOOST_TEST(r.status == 200, "port +" << offset << ": " << r.raw);
  }
  for (auto fd : idle) {
    ::close(fd);
  }
}

BOOST_AUTO_TEST_SUITE_END()
