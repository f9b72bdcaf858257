#include <boost/test/unit_test.hpp>

#include "runtime/supervision/restart_policy.hpp"

using namespace herald::runtime;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_SUITE(restart_policy_suite)

BOOST_AUTO_TEST_CASE(delays_grow_exponentially_up_to_the_cap) {
  restart_policy p;
  p.initial_delay = 100ms;
  p.max_delay = 1000ms;
  p.jitter = 0.0;
  p.max_restarts = 100;
  restart_tracker t{p};
  auto now = clock::time_point{} + 1h;
  std::vector<long long> delays;
  for (int i = 0; i < 6; ++i) {
    now += 1ms;
    delays.push_back(t.on_crash(now, now - 1ms, 0.5)->count());
  }
  BOOST_CHECK((delays == std::vector<long long>{100, 200, 400, 800, 1000, 1000}));
}

BOOST_AUTO_TEST_CASE(jitter_stays_within_its_band) {
  restart_policy p;
  p.jitter = 0.2;
  restart_tracker low{p};
  restart_tracker high{p};
  auto now = clock::time_point{} + 1h;
  BOOST_CHECK_EQUAL(low.on_crash(now, now, 0.0)->count(), 80);
  BOOST_CHECK_EQUAL(high.on_crash(now, now, 0.999999)->count(), 120);
}

BOOST_AUTO_TEST_CASE(a_child_that_stayed_up_starts_over_at_the_initial_delay) {
  restart_policy p;
  p.jitter = 0.0;
  restart_tracker t{p};
  auto now = clock::time_point{} + 1h;
  t.on_crash(now, now, 0.5);
  t.on_crash(now, now, 0.5);
  auto later = now + 5min;
  BOOST_CHECK_EQUAL(t.on_crash(later, later - p.reset_after, 0.5)->count(),
                    p.initial_delay.count());
}

BOOST_AUTO_TEST_CASE(too_many_restarts_in_the_window_escalate) {
  restart_policy p;
  p.max_restarts = 3;
  p.window = std::chrono::seconds{10};
  restart_tracker t{p};
  auto now = clock::time_point{} + 1h;
  for (int i = 0; i < 3; ++i) {
    BOOST_CHECK(t.on_crash(now + i * 1s, now, 0.5).has_value());
  }
  BOOST_CHECK(!t.on_crash(now + 3s, now, 0.5).has_value());
  // Once the old crashes leave the window, restarts are allowed again.
  BOOST_CHECK(t.on_crash(now + 30s, now + 29s, 0.5).has_value());
}

BOOST_AUTO_TEST_SUITE_END()
