// /health/ready probes its dependencies with blocking connects. Against an SMTP server that
// accepts and then says nothing (each probe waits for a greeting until its timeout), the
// probes must neither hold the port's HTTP I/O thread (the node runs with one) nor run
// once per request.

#include <boost/test/unit_test.hpp>

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <thread>

#include "support/free_port.hpp"
#include "support/herald_api.hpp"

using namespace herald::test;
using namespace std::chrono_literals;

namespace {

/// A TCP server on 127.0.0.1 that accepts every connection, keeps it open and never writes.
class silent_server {
public:
  silent_server() : port_(free_port()) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port_));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    BOOST_REQUIRE(bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    BOOST_REQUIRE(listen(fd_, 64) == 0);
    thread_ = std::thread{[this] {
      while (!stop_) {
        pollfd p{fd_, POLLIN, 0};
        if (poll(&p, 1, 50) > 0) {
          int c = accept(fd_, nullptr, nullptr);
          if (c >= 0) {
            held_.push_back(c);
            ++accepted_;
          }
        }
      }
    }};
  }
  ~silent_server() {
    stop_ = true;
    thread_.join();
    for (int c : held_) {
      close(c);
    }
    close(fd_);
  }
  silent_server(const silent_server&) = delete;
  silent_server& operator=(const silent_server&) = delete;

  std::string url() const { return "smtp://127.0.0.1:" + std::to_string(port_); }
  int accepted() const { return accepted_.load(); }

private:
  int port_;
  int fd_ = -1;
  std::vector<int> held_; ///< the accept thread's
  std::atomic<int> accepted_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

struct readiness_fixture {
  silent_server smtp;
  running_node node{{{"HERALD_ROLES", "email"},
                     {"HERALD_SMTP_URL", smtp.url()},
                     {"HERALD_HTTP_THREADS", "1"}},
                    false};
  std::string email() const { return node.url(3); }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(readiness, readiness_fixture)

BOOST_AUTO_TEST_CASE(a_probe_waiting_on_a_silent_dependency_does_not_hold_the_port) {
  BOOST_REQUIRE(eventually([&] { return http_call("GET", email() + "/health").status == 200; }));
  auto before = smtp.accepted();
  auto ready = std::async(std::launch::async,
                          [&] { return http_call("GET", email() + "/health/ready"); });
  // The probe is under way: it has connected and waits for a greeting.
  BOOST_REQUIRE(eventually([&] { return smtp.accepted() > before; }));
  auto alive = http_call("GET", email() + "/health");
  BOOST_CHECK_EQUAL(alive.status, 200);
  BOOST_CHECK_MESSAGE(ready.wait_for(0s) == std::future_status::timeout,
                      "/health was answered only once the readiness probe had finished");
  auto r = ready.get();
  BOOST_CHECK_EQUAL(r.status, 503);
  BOOST_CHECK_EQUAL(r.body["data"]["dependencies"]["smtp"]["status"], "down");
}

BOOST_AUTO_TEST_CASE(requests_that_come_during_a_probe_share_its_answer) {
  BOOST_REQUIRE(eventually([&] { return http_call("GET", email() + "/health").status == 200; }));
  auto before = smtp.accepted();
  std::vector<std::future<http_reply>> asked;
  for (int i = 0; i < 10; ++i) {
    asked.push_back(std::async(std::launch::async,
                               [&] { return http_call("GET", email() + "/health/ready"); }));
  }
  for (auto& f : asked) {
    auto r = f.get();
    BOOST_CHECK_EQUAL(r.status, 503);
  }
  // Ten requests in flight together: one probe run, or two when some came just after the
  // first ended; one request each would be ten.
  BOOST_CHECK_LE(smtp.accepted() - before, 2);
}

BOOST_AUTO_TEST_SUITE_END()
