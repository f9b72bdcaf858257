#include <boost/test/unit_test.hpp>

#include <caf/all.hpp>

#include <thread>

#include "runtime/supervision/supervised_pool.hpp"

using namespace herald::runtime;
using namespace std::chrono_literals;

namespace {

using echo_atom = caf::atom_constant<caf::atom("echo")>;
using crash_atom = caf::atom_constant<caf::atom("crash")>;

caf::behavior echo_worker(caf::event_based_actor* self, entry_ptr entry) {
  return {
    [=](echo_atom, int x) {
      entry->processed += 1;
      return x;
    },
    [=](crash_atom) { self->quit(caf::make_error(caf::sec::runtime_error, "crash")); },
  };
}

bool eventually(const std::function<bool()>& ready) {
  auto until = std::chrono::steady_clock::now() + 5s;
  while (!ready()) {
    if (std::chrono::steady_clock::now() > until) {
      return false;
    }
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

struct pool_fixture {
  registry reg; // outlives the actor system, whose actors write to it
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};

  /// Restarts so far of a worker (0 before its supervisor listed it).
  std::uint64_t restarts(const std::string& name) {
    auto e = reg.find(name);
    return e ? e->restarts.load() : 0;
  }

  supervised_pool make(std::size_t size, int max_restarts = 20) {
    pool_spec spec;
    spec.name = "echo";
    spec.size = size;
    spec.policy.initial_delay = 5ms;
    spec.policy.max_restarts = max_restarts;
    spec.spawn_worker = [](caf::actor_system& s, entry_ptr e) {
      return s.spawn<caf::detached>(echo_worker, e);
    };
    return spawn_supervised_pool(sys, reg, spec);
  }

  caf::expected<int> echo(const caf::actor& dest, int x) {
    caf::scoped_actor self{sys};
    caf::expected<int> result = caf::make_error(caf::sec::request_timeout);
    self->request(dest, 2s, echo_atom::value, x)
      .receive([&](int y) { result = y; }, [&](caf::error& e) { result = std::move(e); });
    return result;
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(supervised_pool_suite, pool_fixture)

BOOST_AUTO_TEST_CASE(requests_are_spread_over_the_workers_and_answered_directly) {
  auto p = make(2);
  for (int i = 0; i < 10; ++i) {
    auto r = echo(p.pool, i);
    BOOST_REQUIRE(r);
    BOOST_CHECK_EQUAL(*r, i);
  }
  BOOST_CHECK_EQUAL(reg.find("echo/0")->processed.load(), 5u);
  BOOST_CHECK_EQUAL(reg.find("echo/1")->processed.load(), 5u);
  caf::anon_send_exit(p.supervisor, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(a_crashed_worker_is_restarted_and_serves_again) {
  auto p = make(1);
  caf::anon_send(p.pool, crash_atom::value);
  BOOST_REQUIRE(eventually([&] { return restarts("echo/0") == 1; }));
  BOOST_REQUIRE(eventually([&] { return static_cast<bool>(echo(p.pool, 7)); }));
  BOOST_CHECK_EQUAL(*echo(p.pool, 8), 8);
  caf::anon_send_exit(p.supervisor, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(a_request_while_no_worker_is_alive_fails_at_once) {
  pool_spec spec;
  spec.name = "slow";
  spec.size = 1;
  spec.policy.initial_delay = 10s; // stays down for the whole test
  spec.spawn_worker = [](caf::actor_system& s, entry_ptr e) {
    return s.spawn<caf::detached>(echo_worker, e);
  };
  auto p = spawn_supervised_pool(sys, reg, spec);
  caf::anon_send(p.pool, crash_atom::value);
  BOOST_REQUIRE(eventually([&] { return restarts("slow/0") == 1; }));
  auto started = std::chrono::steady_clock::now();
  auto r = echo(p.pool, 1);
  BOOST_CHECK(!r);
  BOOST_CHECK(std::chrono::steady_clock::now() - started < 2s); // answered, not timed out
  caf::anon_send_exit(p.supervisor, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(exceeding_the_restart_intensity_escalates) {
  auto p = make(1, 2);
  caf::scoped_actor watcher{sys};
  watcher->monitor(p.supervisor);
  for (int i = 0; i < 3; ++i) {
    auto before = restarts("echo/0");
    caf::anon_send(p.pool, crash_atom::value);
    if (i < 2) {
      BOOST_REQUIRE(eventually([&] { return restarts("echo/0") == before + 1; }));
      BOOST_REQUIRE(eventually([&] { return static_cast<bool>(echo(p.pool, i)); }));
    }
  }
  bool escalated = false;
  watcher->receive([&](caf::down_msg& dm) { escalated = static_cast<bool>(dm.reason); },
                   caf::after(5s) >> [] {});
  BOOST_CHECK(escalated);
}

BOOST_AUTO_TEST_SUITE_END()
