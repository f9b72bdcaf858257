// The generic supervisor (runtime/supervision/supervisor.hpp) with real actors: restarts
// with growing backoff, escalation past the restart intensity, rest-for-one, nested trees,
// stable fronts and the order of shutdown. Waits poll with a deadline; nothing sleeps to
// synchronise.

#include <boost/test/unit_test.hpp>

#include <caf/all.hpp>

#include <mutex>
#include <thread>

#include "runtime/supervision/supervisor.hpp"

using namespace herald::runtime;
using namespace std::chrono_literals;

namespace {

using echo_atom = caf::atom_constant<caf::atom("echo")>;
using crash_atom = caf::atom_constant<caf::atom("crash")>;
using done_atom = caf::atom_constant<caf::atom("done")>;

/// What happened to the children, in order, from every thread.
struct journal {
  std::mutex mtx;
  std::vector<std::string> events;
  std::vector<clock::time_point> starts;
  std::vector<clock::time_point> crashes;

  void add(std::string e) {
    std::lock_guard<std::mutex> guard{mtx};
    events.push_back(std::move(e));
  }
  std::vector<std::string> all() {
    std::lock_guard<std::mutex> guard{mtx};
    return events;
  }
};

using journal_ptr = std::shared_ptr<journal>;

/// Answers echo with its input and its own actor id; crashes on demand with "boom";
/// stops slowly (30 ms after it is asked), writing both ends of its stop to the journal.
caf::behavior child(caf::event_based_actor* self, std::string name, journal_ptr j) {
  {
    std::lock_guard<std::mutex> guard{j->mtx};
    j->starts.push_back(clock::now());
  }
  self->set_exit_handler([=](caf::exit_msg&) {
    j->add("stopping " + name);
    self->delayed_send(self, 30ms, done_atom::value);
  });
  return {
    [=](echo_atom, int x) { return caf::make_message(x, static_cast<std::uint64_t>(self->id())); },
    [=](crash_atom) {
      {
        std::lock_guard<std::mutex> guard{j->mtx};
        j->crashes.push_back(clock::now());
      }
      self->quit(caf::make_error(caf::sec::runtime_error, "boom"));
    },
    [=](done_atom) {
      j->add("down " + name); // written before the supervisor can learn of it
      self->quit();
    },
  };
}

bool eventually(const std::function<bool()>& ready, std::chrono::milliseconds within = 5s) {
  auto until = clock::now() + within;
  while (!ready()) {
    if (clock::now() > until) {
      return false;
    }
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

restart_policy quick(int max_restarts = 20) {
  restart_policy p;
  p.initial_delay = 5ms;
  p.jitter = 0;
  p.max_restarts = max_restarts;
  return p;
}

struct supervisor_fixture {
  registry reg; // outlives the actor system, whose actors write to it
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  journal_ptr j = std::make_shared<journal>();

  child_spec spec(const std::string& name, restart_policy p = quick(), bool dependants = false) {
    child_spec c;
    c.name = name;
    c.policy = p;
    c.restart_dependants = dependants;
    auto jr = j;
    c.spawn = [name, jr](caf::actor_system& s, const child_env&) {
      return s.spawn(child, name, jr);
    };
    return c;
  }

  supervisor_handle make(std::vector<child_spec> children, const std::string& name = "tree") {
    supervisor_spec s;
    s.name = name;
    s.role = "test";
    s.children = std::move(children);
    return spawn_supervisor(sys, reg, s);
  }

  std::uint64_t restarts(const std::string& name) {
    auto e = reg.find(name);
    return e ? e->restarts.load() : 0;
  }

  /// The actor id of the incarnation that answered, or 0 when the request failed.
  std::uint64_t echo(const caf::actor& dest) {
    caf::scoped_actor self{sys};
    std::uint64_t who = 0;
    self->request(dest, 2s, echo_atom::value, 1)
      .receive([&](int, std::uint64_t id) { who = id; }, [&](caf::error&) {});
    return who;
  }

  /// Waits for `a` to be down and answers its exit reason (none when it is not down in 5 s).
  caf::error wait_down(const caf::actor& a, bool* down = nullptr) {
    caf::scoped_actor self{sys};
    self->monitor(a);
    caf::error reason;
    bool seen = false;
    self->receive([&](caf::down_msg& dm) { reason = dm.reason; seen = true; },
                  caf::after(5s) >> [] {});
    if (down) {
      *down = seen;
    }
    return reason;
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(supervisor_suite, supervisor_fixture)

BOOST_AUTO_TEST_CASE(a_crashed_child_is_restarted_and_reachable_at_the_same_front) {
  auto t = make({spec("a"), spec("b")});
  std::uint64_t first = 0; // the children start on the supervisor's first run
  BOOST_REQUIRE(eventually([&] { return (first = echo(t.front("b"))) != 0; }));
  caf::anon_send(t.front("b"), crash_atom::value);
  BOOST_REQUIRE(eventually([&] { return restarts("b") == 1; }));
  std::uint64_t second = 0;
  BOOST_REQUIRE(eventually([&] { return (second = echo(t.front("b"))) != 0; }));
  BOOST_CHECK_NE(second, first); // a new incarnation answered, through the same front
  BOOST_CHECK_EQUAL(restarts("a"), 0u);
  BOOST_CHECK_EQUAL(reg.find("tree")->kind(), "supervisor");
  caf::anon_send_exit(t.supervisor, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(a_request_to_a_child_that_is_down_fails_at_once) {
  auto slow = quick();
  slow.initial_delay = 10s; // stays down for the whole test
  auto t = make({spec("a", slow)});
  // Started first: a message to a front before the supervisor's first run is dropped.
  BOOST_REQUIRE(eventually([&] { return echo(t.front("a")) != 0; }));
  caf::anon_send(t.front("a"), crash_atom::value);
  BOOST_REQUIRE(eventually([&] { return restarts("a") == 1; }));
  auto started = clock::now();
  BOOST_CHECK_EQUAL(echo(t.front("a")), 0u);
  BOOST_CHECK(clock::now() - started < 1s); // answered with an error, not timed out
  caf::anon_send_exit(t.supervisor, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(the_backoff_grows_with_each_crash_in_a_row) {
  auto p = quick();
  p.initial_delay = 40ms;
  p.multiplier = 2.0;
  auto t = make({spec("a", p)});
  for (std::uint64_t k = 1; k <= 3; ++k) {
    BOOST_REQUIRE(eventually([&] { return echo(t.front("a")) != 0; }));
    caf::anon_send(t.front("a"), crash_atom::value);
    BOOST_REQUIRE(eventually([&] { return restarts("a") == k; }));
    BOOST_REQUIRE(eventually([&] {
      std::lock_guard<std::mutex> guard{j->mtx};
      return j->starts.size() == k + 1;
    }));
  }
  std::lock_guard<std::mutex> guard{j->mtx};
  BOOST_REQUIRE_EQUAL(j->crashes.size(), 3u);
  for (std::size_t k = 0; k < 3; ++k) {
    auto waited = j->starts[k + 1] - j->crashes[k];
    auto due = p.initial_delay * (1 << k); // 40, 80, 160 ms (no jitter)
    BOOST_TEST_MESSAGE("restart " << k + 1 << " after "
                                  << std::chrono::duration_cast<std::chrono::milliseconds>(waited).count()
                                  << " ms, due " << due.count() << " ms");
    BOOST_CHECK(waited >= due);
  }
  caf::anon_send_exit(t.supervisor, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(past_the_restart_intensity_the_supervisor_escalates_with_the_childs_error) {
  auto t = make({spec("a"), spec("b", quick(2))});
  caf::scoped_actor watcher{sys};
  watcher->monitor(t.supervisor);
  for (std::uint64_t k = 1; k <= 2; ++k) {
    BOOST_REQUIRE(eventually([&] { return echo(t.front("b")) != 0; }));
    caf::anon_send(t.front("b"), crash_atom::value);
    BOOST_REQUIRE(eventually([&] { return restarts("b") == k; }));
  }
  BOOST_REQUIRE(eventually([&] { return echo(t.front("b")) != 0; }));
  caf::anon_send(t.front("b"), crash_atom::value); // the third crash in the window
  caf::error reason;
  bool down = false;
  watcher->receive([&](caf::down_msg& dm) { reason = dm.reason; down = true; },
                   caf::after(5s) >> [] {});
  BOOST_REQUIRE(down);
  BOOST_CHECK(reason == caf::sec::runtime_error);
  BOOST_CHECK(sys.render(reason).find("boom") != std::string::npos);
  BOOST_CHECK_EQUAL(reg.find("tree")->state(), "escalated: b");
  // The tree went with it: the other child is stopped too.
  BOOST_CHECK(eventually([&] {
    auto e = j->all();
    return std::find(e.begin(), e.end(), "down a") != e.end();
  }));
}

BOOST_AUTO_TEST_CASE(a_child_with_dependants_restarts_them_but_not_the_children_before_it) {
  auto t = make({spec("conn"), spec("sender", quick(), true), spec("consumer")});
  std::uint64_t consumer = 0;
  BOOST_REQUIRE(eventually([&] { return (consumer = echo(t.front("consumer"))) != 0; }));
  caf::anon_send(t.front("sender"), crash_atom::value);
  BOOST_REQUIRE(eventually([&] { return restarts("sender") == 1; }));
  BOOST_REQUIRE(eventually([&] { return restarts("consumer") == 1; }));
  std::uint64_t again = 0;
  BOOST_REQUIRE(eventually([&] { return (again = echo(t.front("consumer"))) != 0; }));
  BOOST_CHECK_NE(again, consumer);
  BOOST_CHECK_EQUAL(restarts("conn"), 0u);
  // A dependant's own crash restarts only itself.
  caf::anon_send(t.front("consumer"), crash_atom::value);
  BOOST_REQUIRE(eventually([&] { return restarts("consumer") == 2; }));
  BOOST_REQUIRE(eventually([&] { return echo(t.front("consumer")) != 0; }));
  BOOST_CHECK_EQUAL(restarts("sender"), 1u);
  caf::anon_send_exit(t.supervisor, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(a_nested_supervisor_that_escalates_is_restarted_by_its_parent) {
  auto inner_child = spec("leaf", quick(1));
  auto reg_ptr = &reg;
  child_spec inner;
  inner.name = "inner";
  inner.kind = "supervisor";
  inner.policy = quick();
  auto leaf_fronts = std::make_shared<std::vector<caf::actor>>();
  auto mtx = std::make_shared<std::mutex>();
  inner.spawn = [=](caf::actor_system& s, const child_env&) {
    supervisor_spec is;
    is.name = "inner/tree";
    is.role = "test";
    is.children = {inner_child};
    auto h = spawn_supervisor(s, *reg_ptr, is); // the registry outlives the system here
    std::lock_guard<std::mutex> guard{*mtx};
    leaf_fronts->push_back(h.front("leaf"));
    return h.supervisor;
  };
  auto t = make({spec("a"), inner});
  auto leaf = [&](std::size_t n) {
    std::lock_guard<std::mutex> guard{*mtx};
    return leaf_fronts->size() >= n ? (*leaf_fronts)[n - 1] : caf::actor{};
  };
  BOOST_REQUIRE(eventually([&] { return leaf(1) && echo(leaf(1)) != 0; }));
  caf::anon_send(leaf(1), crash_atom::value); // restarted by the inner tree
  BOOST_REQUIRE(eventually([&] { return restarts("leaf") == 1; }));
  BOOST_REQUIRE(eventually([&] { return echo(leaf(1)) != 0; }));
  caf::anon_send(leaf(1), crash_atom::value); // past its intensity: the inner tree escalates
  BOOST_REQUIRE(eventually([&] { return restarts("inner") == 1; }));
  BOOST_REQUIRE(eventually([&] { return leaf(2) && echo(leaf(2)) != 0; }));
  BOOST_CHECK_EQUAL(restarts("a"), 0u);
  BOOST_CHECK_EQUAL(reg.find("tree")->state(), "running");
  caf::anon_send_exit(t.supervisor, caf::exit_reason::user_shutdown);
  bool down = false;
  wait_down(t.supervisor, &down);
  BOOST_CHECK(down);
}

BOOST_AUTO_TEST_CASE(stopping_the_tree_stops_the_children_last_first_one_at_a_time) {
  auto t = make({spec("connections"), spec("sender"), spec("consumers")});
  BOOST_REQUIRE(eventually([&] { return echo(t.front("consumers")) != 0; }));
  caf::anon_send_exit(t.supervisor, caf::exit_reason::user_shutdown);
  bool down = false;
  auto reason = wait_down(t.supervisor, &down);
  BOOST_REQUIRE(down);
  BOOST_CHECK(reason == caf::exit_reason::user_shutdown);
  std::vector<std::string> expected{"stopping consumers", "down consumers", "stopping sender",
                                    "down sender",        "stopping connections",
                                    "down connections"};
  auto events = j->all();
  BOOST_CHECK_EQUAL_COLLECTIONS(events.begin(), events.end(), expected.begin(), expected.end());
  BOOST_CHECK_EQUAL(reg.find("tree")->state(), "stopped");
}

BOOST_AUTO_TEST_SUITE_END()
