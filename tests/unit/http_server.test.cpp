// http::server's promises about close(): handlers use their owners' objects, which die
// right after close() (node::stop), so no handler may still run or start afterwards, and
// a late reply from a continuation must be harmless. And its pure parts: the router and
// the connection budget.

#include <boost/test/unit_test.hpp>

#include <cpprest/http_client.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <future>

#include "adapters/http/connection_budget.hpp"
#include "adapters/http/router.hpp"
#include "adapters/http/server.hpp"

using namespace std::chrono_literals;

namespace {

/// A port nobody listens on right now (the kernel's pick, released at once).
int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

herald::http::response plain(int status, const std::string& message) {
  return {status, message, "text/plain", {}};
}

/// Sends one POST without waiting for its answer.
pplx::task<web::http::http_response> post(int port) {
  web::http::client::http_client client{"http://127.0.0.1:" + std::to_string(port)};
  return client.request(web::http::methods::POST, "/work", "{}", "application/json");
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
  server.close(); // ends the open request (cpprestsdk: a 500) and closes its connection

  BOOST_CHECK_NO_THROW(reply(plain(200, "too late")));
  // Dropped: the client sees its connection closed (or close()'s 500), never the late 200.
  int status = 0;
  try {
    status = answer.get().status_code();
  } catch (const web::http::http_exception&) {
    status = -1; // the connection closed without an answer
  }
  BOOST_TEST_CONTEXT("status " << status) {
    BOOST_CHECK(status == -1 || status == 500);
  }
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
