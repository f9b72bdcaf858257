// http::server: its promises about close() (handlers use their owners' objects, which die
// right after close() (node::stop), so no handler may still run or start afterwards, and a
// late reply from a continuation must be harmless); every limit it enforces on clients,
// shown on a real socket with raw bytes; and its pure parts, the router and the
// connection budget.

#include <boost/test/unit_test.hpp>

#include <cpprest/http_client.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <future>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "actors/common/rest.hpp"
#include "adapters/http/connection_budget.hpp"
#include "adapters/http/router.hpp"
#include "adapters/http/server.hpp"
#include "tests/support/free_port.hpp"

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {

using herald::test::free_port;

herald::http::response plain(int status, const std::string& message) {
  return {status, message, "text/plain", {}};
}

/// Sends one POST without waiting for its answer.
pplx::task<web::http::http_response> post(int port) {
  web::http::client::http_client client{"http://127.0.0.1:" + std::to_string(port)};
  return client.request(web::http::methods::POST, "/work", "{}", "application/json");
}

struct raw_answer {
  int status = 0; ///< 0: none arrived
  std::map<std::string, std::string> headers; ///< names lower-cased
  std::string body;
};

/// A blocking TCP client for what an HTTP client library will not do: raw bytes, several
/// requests in one write, a request sent a byte at a time, silence.
class raw_client {
public:
  explicit raw_client(int port) : fd_(socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      throw std::runtime_error(std::string{"connect: "} + std::strerror(errno));
    }
  }
  ~raw_client() { ::close(fd_); }
  raw_client(const raw_client&) = delete;
  raw_client& operator=(const raw_client&) = delete;

  /// False once the server has closed the connection.
  bool send(std::string_view bytes) {
    while (!bytes.empty()) {
      auto n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) {
        return false;
      }
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  /// The next `n` answers, fewer when the connection closes or `within` passes first.
  /// `head`: answers to HEAD requests, which have no body whatever Content-Length says.
  std::vector<raw_answer> answers(std::size_t n, std::chrono::milliseconds within = 5s,
                                  bool head = false) {
    std::vector<raw_answer> out;
    auto until = steady::now() + within;
    while (out.size() < n) {
      if (auto a = take_answer(head)) {
        out.push_back(std::move(*a));
      } else if (!receive(until)) {
        break;
      }
    }
    return out;
  }

  raw_answer answer(std::chrono::milliseconds within = 5s, bool head = false) {
    auto got = answers(1, within, head);
    return got.empty() ? raw_answer{} : got.front();
  }

  /// True when the server closes the connection before `within` passes.
  bool closed_within(std::chrono::milliseconds within) {
    auto until = steady::now() + within;
    while (receive(until)) {
    }
    return closed_;
  }

private:
  /// Waits for bytes until `until`: false once the connection closed or time is up.
  bool receive(steady::time_point until) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - steady::now());
    pollfd p{fd_, POLLIN, 0};
    if (closed_ || left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) <= 0) {
      return false;
    }
    char buf[65536];
    auto got = recv(fd_, buf, sizeof buf, 0);
    if (got <= 0) {
      closed_ = true;
      return false;
    }
    in_.append(buf, static_cast<std::size_t>(got));
    return true;
  }

  std::optional<raw_answer> take_answer(bool head) {
    auto end = in_.find("\r\n\r\n");
    if (end == std::string::npos) {
      return std::nullopt;
    }
    raw_answer a;
    if (!in_.starts_with("HTTP/1.1 ")) {
      a.status = -1; // not where an answer should start (bytes of an earlier one?)
      in_.clear();
      return a;
    }
    a.status = std::atoi(in_.substr(9, 3).c_str());
    for (auto at = in_.find("\r\n") + 2; at < end + 2;) {
      auto eol = in_.find("\r\n", at);
      auto line = in_.substr(at, eol - at);
      auto colon = line.find(':');
      std::string name = line.substr(0, colon);
      std::transform(name.begin(), name.end(), name.begin(), ::tolower);
      a.headers[name] = line.substr(line.find_first_not_of(' ', colon + 1));
      at = eol + 2;
    }
    std::size_t length = 0;
    if (!head && a.status >= 200 && a.headers.count("content-length")) {
      length = std::stoul(a.headers["content-length"]);
    }
    if (in_.size() < end + 4 + length) {
      return std::nullopt;
    }
    a.body = in_.substr(end + 4, length);
    in_.erase(0, end + 4 + length);
    return a;
  }

  int fd_;
  std::string in_;
  bool closed_ = false;
};

std::string get(const std::string& path, const std::string& extra_headers = {}) {
  return "GET " + path + " HTTP/1.1\r\nHost: test\r\n" + extra_headers + "\r\n";
}

const std::string health_body = R"({"status":"up"})";

/// A server on a free port with Herald's error envelope and a few trivial routes, counting
/// the requests its handlers saw.
class test_server {
public:
  explicit test_server(herald::http::limits lim = {})
    : port(free_port()), server{"127.0.0.1", port, std::move(lim), herald::rest::server_error} {
    using herald::http::reply_fn;
    using herald::http::request;
    server.route("GET", "/health", [this](request&&, reply_fn reply) {
      ++handled;
      reply({200, health_body, "application/json", {}});
    });
    server.route("POST", "/echo", [this](request&& r, reply_fn reply) {
      ++handled;
      reply({200, r.body, "application/json", {}});
    });
    // Answers "{ms}" from another thread after that many milliseconds, as an actor would.
    server.route("GET", "/after/{ms}", [this](request&& r, reply_fn reply) {
      ++handled;
      auto now = ++outstanding;
      for (auto most = most_outstanding.load(); now > most;) {
        most_outstanding.compare_exchange_weak(most, now);
      }
      std::lock_guard<std::mutex> guard{mtx_};
      repliers_.emplace_back([this, ms = r.params["ms"], reply] {
        std::this_thread::sleep_for(std::chrono::milliseconds{std::stoi(ms)});
        --outstanding;
        reply({200, ms, "text/plain", {}});
      });
    });
    BOOST_REQUIRE_EQUAL(server.open(), "");
  }
  ~test_server() {
    for (auto& t : repliers_) {
      t.join();
    }
  }

  std::atomic<int> handled{0};
  std::atomic<int> outstanding{0};      ///< /after requests not answered yet
  std::atomic<int> most_outstanding{0}; ///< the most at any time
  const int port;

private:
  std::mutex mtx_;
  std::vector<std::thread> repliers_;

public:
  herald::http::server server; ///< last: closed before the rest goes
};

/// The error of an answer in Herald's envelope.
std::string envelope_error(const raw_answer& a) {
  auto body = nlohmann::json::parse(a.body, nullptr, false);
  return body.is_object() && body["success"] == false && body["error"].is_string()
           ? body["error"].get<std::string>()
           : "(not an error envelope: " + a.body + ")";
}

} // namespace

BOOST_AUTO_TEST_SUITE(http_server)

BOOST_AUTO_TEST_CASE(close_returns_only_after_the_running_handler_returned) {
  auto port = free_port();
  herald::http::server server{"127.0.0.1", port, 1024, plain};
  std::promise<void> entered;
  std::promise<void> release;
  auto released = release.get_future().share();
  std::atomic<bool> finished{false};
  server.route("POST", "/work", [&](herald::http::request&&, herald::http::reply_fn reply) {
    entered.set_value();
    released.wait();
    reply(plain(200, "done"));
    finished = true;
  });
  BOOST_REQUIRE_EQUAL(server.open(), "");
  auto answer = post(port);
  entered.get_future().wait();

  auto closing = std::async(std::launch::async, [&] { server.close(); });
  BOOST_TEST((closing.wait_for(200ms) == std::future_status::timeout),
             "close() returned while a handler was still running");
  release.set_value();
  closing.get();
  BOOST_TEST(finished.load());
  try {
    answer.wait();
  } catch (...) {
    // The client may see the connection closed: only the server's side is checked.
  }
}

BOOST_AUTO_TEST_CASE(a_reply_after_close_is_dropped_without_an_exception) {
  auto port = free_port();
  herald::http::server server{"127.0.0.1", port, 1024, plain};
  std::promise<herald::http::reply_fn> kept;
  server.route("POST", "/work", [&](herald::http::request&&, herald::http::reply_fn reply) {
    kept.set_value(reply); // answered later, like a continuation on an actor thread
  });
  BOOST_REQUIRE_EQUAL(server.open(), "");
  auto answer = post(port);
  auto reply = kept.get_future().get();
  server.close(); // closes the connection of the open request

  BOOST_CHECK_NO_THROW(reply(plain(200, "too late")));
  // Dropped: the client sees its connection closed, never the late 200.
  int status = 0;
  try {
    status = answer.get().status_code();
  } catch (const web::http::http_exception&) {
    status = -1; // the connection closed without an answer
  }
  BOOST_CHECK_EQUAL(status, -1);
}

// A reply function held past close() (a late publisher confirm, say) must not keep the
// handlers' owner alive: its last reference would then go on that foreign thread, whose
// owner may be the very object being destroyed (a publisher joining its own thread:
// "Resource deadlock avoided", integration.gateway_idempotency in CI).
BOOST_AUTO_TEST_CASE(close_lets_go_of_the_handlers_even_while_a_reply_is_held) {
  auto port = free_port();
  auto owner = std::make_shared<int>(0);
  std::weak_ptr<int> watch = owner;
  std::promise<herald::http::reply_fn> kept;
  {
    herald::http::server server{"127.0.0.1", port, 1024, plain};
    server.route("POST", "/work",
                 [owner, &kept](herald::http::request&&, herald::http::reply_fn reply) {
                   kept.set_value(reply);
                 });
    owner.reset();
    BOOST_REQUIRE_EQUAL(server.open(), "");
    auto answer = post(port);
    auto reply = kept.get_future().get();
    server.close();
    BOOST_CHECK(watch.expired());
    BOOST_CHECK_NO_THROW(reply(plain(200, "too late")));
    try {
      answer.wait();
    } catch (...) {
      // The connection closed without an answer: a_reply_after_close_is_dropped… checks it.
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(http_limits)

using herald::http::connection_budget;
using herald::http::limits;

BOOST_AUTO_TEST_CASE(a_header_section_over_the_limit_is_a_431_and_no_handler_sees_it) {
  test_server s;
  raw_client c{s.port};
  c.send(get("/health", "X-Big: " + std::string(32 * 1024, 'a') + "\r\n"));
  auto a = c.answer();
  BOOST_TEST(a.status == 431);
  BOOST_TEST(envelope_error(a) == "request header section larger than 16384 bytes");
  BOOST_TEST(a.headers["connection"] == "close");
  BOOST_TEST(c.closed_within(3s));
  BOOST_TEST(s.handled == 0);
}

BOOST_AUTO_TEST_CASE(more_header_fields_than_allowed_is_a_431) {
  test_server s;
  std::string fields;
  for (int i = 0; i < 200; ++i) {
    fields += "X-Field-" + std::to_string(i) + ": v\r\n";
  }
  raw_client c{s.port};
  c.send(get("/health", fields));
  auto a = c.answer();
  BOOST_TEST(a.status == 431);
  BOOST_TEST(envelope_error(a) == "more than 100 request header fields");
  BOOST_TEST(s.handled == 0);
  // 99 fields and Host are fine.
  raw_client d{s.port};
  d.send(get("/health", fields.substr(0, fields.find("X-Field-99:"))));
  BOOST_TEST(d.answer().status == 200);
}

BOOST_AUTO_TEST_CASE(a_request_line_over_the_limit_is_a_414_however_it_arrives) {
  test_server s;
  // "GET " + target + " HTTP/1.1" is 8,192 bytes: the limit itself passes (and is a 404).
  auto fits = "/" + std::string(8192 - 14, 'a');
  raw_client ok{s.port};
  ok.send(get(fits));
  BOOST_TEST(ok.answer().status == 404);
  for (std::string request : {get(fits + "a"), get("/" + std::string(100000, 'a')),
                              "GET /" + std::string(20000, 'a')}) { // no end of line yet
    raw_client c{s.port};
    c.send(request);
    auto a = c.answer();
    BOOST_TEST(a.status == 414);
    BOOST_TEST(envelope_error(a) == "request line longer than 8192 bytes");
  }
  BOOST_TEST(s.handled == 0);
}

BOOST_AUTO_TEST_CASE(a_body_over_the_limit_is_a_413_also_when_chunked) {
  limits lim;
  lim.max_body_bytes = 1024;
  test_server s{lim};
  auto post = [](const std::string& framing, const std::string& body) {
    return "POST /echo HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n" + framing
           + "\r\n" + body;
  };
  raw_client sized{s.port};
  sized.send(post("Content-Length: 2000\r\n", std::string(2000, ' ')));
  auto a = sized.answer();
  BOOST_TEST(a.status == 413);
  BOOST_TEST(envelope_error(a) == "request body larger than 1024 bytes");
  raw_client chunked{s.port};
  chunked.send(post("Transfer-Encoding: chunked\r\n", "400\r\n" + std::string(1024, ' ')
                                                           + "\r\n1\r\n \r\n0\r\n\r\n"));
  BOOST_TEST(chunked.answer().status == 413);
  BOOST_TEST(s.handled == 0);
}

BOOST_AUTO_TEST_CASE(a_malformed_request_is_a_400) {
  test_server s;
  raw_client c{s.port};
  c.send("NOT AN HTTP REQUEST\r\n\r\n");
  auto a = c.answer();
  BOOST_TEST(a.status == 400);
  BOOST_TEST(envelope_error(a).starts_with("malformed request"));
  BOOST_TEST(s.handled == 0);
}

BOOST_AUTO_TEST_CASE(a_request_trickling_in_is_closed_at_the_read_timeout) {
  limits lim;
  lim.read_timeout = 1s; // the idle timeout stays 30 s
  test_server s{lim};
  raw_client c{s.port};
  auto start = steady::now();
  c.send("GET /health HTTP/1.1\r\nX-Slow: ");
  // A byte every 100 ms: a timeout per read would never fire.
  bool closed = false;
  while (!closed && steady::now() - start < 6s) {
    closed = !c.send("a") || c.closed_within(100ms);
  }
  auto took = steady::now() - start;
  BOOST_TEST(closed);
  BOOST_TEST_CONTEXT("closed after " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms") {
    BOOST_TEST((took >= 1s && took < 2500ms));
  }
  BOOST_TEST(s.handled == 0);
}

BOOST_AUTO_TEST_CASE(a_quiet_connection_is_closed_after_the_idle_timeout_and_a_busy_one_is_not) {
  limits lim;
  lim.idle_timeout = 1s;
  test_server s{lim};
  raw_client busy{s.port};
  // Requests 600 ms apart: the timeout counts from the last answer, not from the connect.
  for (int i = 0; i < 3; ++i) {
    BOOST_REQUIRE(busy.send(get("/health")));
    BOOST_TEST(busy.answer().status == 200);
    if (i < 2) {
      BOOST_TEST(!busy.closed_within(600ms));
    }
  }
  auto answered = steady::now();
  raw_client silent{s.port}; // never sends a byte
  BOOST_TEST(busy.closed_within(3s));
  auto took = steady::now() - answered;
  BOOST_TEST_CONTEXT("closed after " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms") {
    BOOST_TEST((took >= 950ms && took < 2500ms));
  }
  BOOST_TEST(silent.closed_within(3s));
}

BOOST_AUTO_TEST_CASE(past_the_cap_the_longest_idle_connection_makes_room) {
  limits lim;
  lim.connections = std::make_shared<connection_budget>(3);
  test_server s{lim};
  std::vector<std::unique_ptr<raw_client>> idle;
  for (int i = 0; i < 3; ++i) {
    idle.push_back(std::make_unique<raw_client>(s.port));
    idle.back()->send(get("/health"));
    BOOST_TEST(idle.back()->answer().status == 200);
  }
  raw_client newcomer{s.port};
  newcomer.send(get("/health"));
  BOOST_TEST(newcomer.answer().status == 200);
  BOOST_TEST(idle[0]->closed_within(3s)); // the longest idle
  for (int i = 1; i < 3; ++i) {           // the others keep their connections
    BOOST_TEST(idle[i]->send(get("/health")));
    BOOST_TEST(idle[i]->answer().status == 200);
  }
  BOOST_TEST(lim.connections->open() == 3u);
}

BOOST_AUTO_TEST_CASE(with_every_connection_busy_a_newcomer_gets_a_fast_503) {
  limits lim;
  lim.connections = std::make_shared<connection_budget>(2);
  test_server s{lim};
  raw_client a{s.port};
  raw_client b{s.port};
  a.send("GET /health HTTP/1.1\r\n"); // requests begun, not finished: busy, not idle
  b.send("GET /health HTTP/1.1\r\n");
  auto& budget = *lim.connections;
  auto deadline = steady::now() + 5s;
  while (!(budget.open() == 2 && budget.idle_count() == 0) && steady::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  BOOST_REQUIRE_EQUAL(budget.idle_count(), 0u);

  auto start = steady::now();
  raw_client refused{s.port}; // sends nothing: the answer does not wait for a request
  auto r = refused.answer(3s);
  auto took = steady::now() - start;
  BOOST_TEST(r.status == 503);
  BOOST_TEST(envelope_error(r).find("too many open connections") != std::string::npos);
  BOOST_TEST(r.headers["connection"] == "close");
  BOOST_TEST(r.headers["retry-after"] == "1");
  BOOST_TEST(took < 1s);
  BOOST_TEST(refused.closed_within(3s));

  // Once a's request is answered, a is idle and makes room: /health answers again.
  a.send("Host: test\r\n\r\n");
  BOOST_TEST(a.answer().status == 200);
  raw_client later{s.port};
  later.send(get("/health"));
  BOOST_TEST(later.answer().status == 200);
  BOOST_TEST(a.closed_within(3s));
  BOOST_TEST(s.handled == 2); // a's and later's: the refused connection reached no handler
}

BOOST_AUTO_TEST_CASE(pipelined_requests_are_answered_in_order) {
  test_server s;
  raw_client c{s.port};
  // The first handler replies last: the answers still come in request order.
  c.send(get("/after/300") + get("/after/0") + get("/after/100"));
  auto got = c.answers(3);
  BOOST_REQUIRE_EQUAL(got.size(), 3u);
  BOOST_TEST(got[0].body == "300");
  BOOST_TEST(got[1].body == "0");
  BOOST_TEST(got[2].body == "100");
  BOOST_TEST(s.most_outstanding >= 2); // handled while the first was pending, not after it
}

BOOST_AUTO_TEST_CASE(a_connection_stops_reading_while_max_pipelined_answers_are_pending) {
  limits lim;
  lim.max_pipelined = 2;
  test_server s{lim};
  raw_client c{s.port};
  std::string all;
  for (int ms : {60, 50, 40, 30, 20, 10}) {
    all += get("/after/" + std::to_string(ms));
  }
  c.send(all);
  auto got = c.answers(6);
  BOOST_REQUIRE_EQUAL(got.size(), 6u);
  for (std::size_t i = 0; i < got.size(); ++i) {
    BOOST_TEST(got[i].body == std::to_string(60 - 10 * static_cast<int>(i)));
  }
  BOOST_TEST(s.most_outstanding == 2);
}

BOOST_AUTO_TEST_CASE(head_answers_a_get_route_with_its_headers_only) {
  test_server s;
  raw_client c{s.port};
  c.send("HEAD /health HTTP/1.1\r\nHost: test\r\n\r\n" + get("/health"));
  auto head = c.answer(5s, true);
  BOOST_TEST(head.status == 200);
  BOOST_TEST(head.headers["content-length"] == std::to_string(health_body.size()));
  // Had the HEAD answer carried a body, these bytes would not start a fresh answer.
  auto full = c.answer();
  BOOST_TEST(full.status == 200);
  BOOST_TEST(full.body == health_body);
  c.send("HEAD /echo HTTP/1.1\r\nHost: test\r\n\r\n");
  auto wrong = c.answer(5s, true);
  BOOST_TEST(wrong.status == 405);
  BOOST_TEST(wrong.headers["allow"] == "POST, OPTIONS");
  c.send("OPTIONS /health HTTP/1.1\r\nHost: test\r\n\r\n");
  BOOST_TEST(c.answer().headers["allow"] == "GET, HEAD, OPTIONS");
}

BOOST_AUTO_TEST_CASE(connection_close_and_http_1_0_are_honoured) {
  test_server s;
  raw_client closing{s.port};
  closing.send(get("/health", "Connection: close\r\n") + get("/health"));
  auto got = closing.answers(2, 2s);
  BOOST_REQUIRE_EQUAL(got.size(), 1u); // the request after it is never read
  BOOST_TEST(got[0].headers["connection"] == "close");
  BOOST_TEST(closing.closed_within(3s));
  BOOST_TEST(s.handled == 1);

  raw_client old{s.port};
  old.send("GET /health HTTP/1.0\r\n\r\n");
  auto a = old.answer();
  BOOST_TEST(a.status == 200);
  BOOST_TEST(a.body == health_body);
  BOOST_TEST(old.closed_within(3s)); // HTTP/1.0 closes unless asked to keep alive

  raw_client kept{s.port};
  kept.send("GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  BOOST_TEST(kept.answer().headers["connection"] == "keep-alive");
  kept.send("GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  BOOST_TEST(kept.answer().status == 200);
}

BOOST_AUTO_TEST_CASE(a_client_that_expects_100_continue_gets_it_before_sending_the_body) {
  test_server s;
  raw_client c{s.port};
  c.send("POST /echo HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
         "Content-Length: 2\r\nExpect: 100-continue\r\n\r\n");
  BOOST_TEST(c.answer().status == 100);
  c.send("{}");
  auto a = c.answer();
  BOOST_TEST(a.status == 200);
  BOOST_TEST(a.body == "{}");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(http_router)

using herald::http::parse_target;
using herald::http::request;
using herald::http::reply_fn;
using herald::http::router;

/// Which route answered: each handler writes its name.
struct named_routes {
  router r;
  std::string called;
  void add(const std::string& method, const std::string& pattern) {
    r.add(method, pattern, [this, name = method + " " + pattern](request&&, reply_fn) { called = name; });
  }
  std::string call(const router::match& m) {
    called.clear();
    if (m.fn != nullptr) {
      (*m.fn)(request{}, nullptr);
    }
    return called;
  }
};

BOOST_AUTO_TEST_CASE(params_and_trailing_slashes) {
  named_routes n;
  n.add("GET", "/api/v1/users/{id}");
  n.add("GET", "/api/v1/users/{id}/push_tokens/");
  auto m = n.r.find("GET", "/api/v1/users/42/");
  BOOST_TEST(n.call(m) == "GET /api/v1/users/{id}");
  BOOST_TEST(m.params["id"] == "42");
  m = n.r.find("GET", "/api/v1/users/42/push_tokens");
  BOOST_TEST(n.call(m) == "GET /api/v1/users/{id}/push_tokens/");
  BOOST_TEST(!n.r.find("GET", "/api/v1/users").path_known);
  BOOST_TEST(!n.r.find("GET", "/api/v1/users/42/other").path_known);
}

BOOST_AUTO_TEST_CASE(a_known_path_with_another_method_names_the_allowed_ones) {
  named_routes n;
  n.add("GET", "/items/{id}");
  n.add("PATCH", "/items/{id}");
  n.add("POST", "/items");
  auto m = n.r.find("DELETE", "/items/1");
  BOOST_TEST(m.fn == nullptr);
  BOOST_TEST(m.path_known);
  BOOST_TEST(m.allow == "GET, HEAD, PATCH, OPTIONS");
  BOOST_TEST(n.r.find("TRACE", "/items").allow == "POST, OPTIONS");
}

BOOST_AUTO_TEST_CASE(head_is_served_by_the_get_route_unless_it_has_its_own) {
  named_routes n;
  n.add("GET", "/a/{x}");
  n.add("GET", "/b");
  n.add("HEAD", "/b");
  auto m = n.r.find("HEAD", "/a/7");
  BOOST_TEST(n.call(m) == "GET /a/{x}");
  BOOST_TEST(m.params["x"] == "7");
  BOOST_TEST(n.call(n.r.find("HEAD", "/b")) == "HEAD /b");
  BOOST_TEST(n.r.find("HEAD", "/b").allow.empty());
}

BOOST_AUTO_TEST_CASE(targets_are_split_and_percent_decoded) {
  auto t = parse_target("/a%20b/c?x=1&y=%2F%3d&flag&x=2&e=");
  BOOST_REQUIRE(t.has_value());
  BOOST_TEST(t->path == "/a b/c");
  BOOST_TEST(t->query.size() == 3u); // "flag" has no value: ignored
  BOOST_TEST(t->query["x"] == "2");  // the last one wins
  BOOST_TEST(t->query["y"] == "/=");
  BOOST_TEST(t->query["e"] == "");
  BOOST_TEST(parse_target("/a+b?q=a+b")->query["q"] == "a+b");
  BOOST_TEST(parse_target("http://example.com:80/p/q?z=1")->path == "/p/q");
  BOOST_TEST(!parse_target("/a%zz").has_value());
  BOOST_TEST(!parse_target("/a?b=%4").has_value());
  BOOST_TEST(!parse_target("/a%").has_value());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(http_connection_budget)

using herald::http::connection_budget;
using herald::http::connection_cap;

struct fake_connection : herald::http::evictable {
  int evicted = 0;
  void evict() override { ++evicted; }
};

BOOST_AUTO_TEST_CASE(the_cap_keeps_a_reserve_of_descriptors) {
  BOOST_TEST(connection_cap(10000, 1024) == 768u);
  BOOST_TEST(connection_cap(10000, 1048576) == 10000u);
  BOOST_TEST(connection_cap(500, 1024) == 500u);
  BOOST_TEST(connection_cap(10000, 100) == 50u); // a tiny limit keeps half
  BOOST_TEST(connection_cap(10000, 0) == 1u);
}

BOOST_AUTO_TEST_CASE(at_the_cap_the_longest_idle_gives_way_and_busy_ones_never_do) {
  connection_budget budget{2};
  auto a = std::make_shared<fake_connection>();
  auto b = std::make_shared<fake_connection>();
  fake_connection c;
  fake_connection d;
  BOOST_TEST(budget.admit(*a));
  BOOST_TEST(budget.admit(*b));
  BOOST_TEST(!budget.admit(c)); // both busy (connections start busy until idle() says so)
  budget.idle(a);
  budget.idle(b);
  budget.busy(*a); // a's next request began: b is now the only idle one
  BOOST_TEST(budget.admit(c));
  BOOST_TEST(b->evicted == 1);
  BOOST_TEST(a->evicted == 0);
  BOOST_TEST(budget.open() == 2u);
  budget.release(*b); // the evicted one closing frees nothing: c has its slot
  BOOST_TEST(!budget.admit(d));
  budget.release(c);
  BOOST_TEST(budget.open() == 1u);
  BOOST_TEST(budget.admit(d));
}

BOOST_AUTO_TEST_CASE(idle_connections_give_way_in_the_order_they_went_idle) {
  connection_budget budget{2};
  auto a = std::make_shared<fake_connection>();
  auto b = std::make_shared<fake_connection>();
  fake_connection c;
  budget.admit(*a);
  budget.admit(*b);
  budget.idle(b);
  budget.idle(a);
  budget.idle(b); // already idle: keeps its place
  BOOST_TEST(budget.admit(c));
  BOOST_TEST(b->evicted == 1);
  BOOST_TEST(a->evicted == 0);
  BOOST_TEST(budget.idle_count() == 1u);
}

BOOST_AUTO_TEST_CASE(refusals_in_progress_are_bounded) {
  connection_budget budget{1, 2};
  BOOST_TEST(budget.begin_refusal());
  BOOST_TEST(budget.begin_refusal());
  BOOST_TEST(!budget.begin_refusal());
  budget.end_refusal();
  BOOST_TEST(budget.begin_refusal());
}

BOOST_AUTO_TEST_SUITE_END()
