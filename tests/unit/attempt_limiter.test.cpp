// The login attempt limiter (runtime/auth/attempt_limiter.hpp), with a fake clock.

#include <boost/test/unit_test.hpp>

#include "runtime/auth/attempt_limiter.hpp"

using herald::runtime::attempt_limiter;
using namespace std::chrono_literals;

namespace {
const auto t0 = attempt_limiter::clock::time_point{} + 1000s;
}

BOOST_AUTO_TEST_SUITE(attempt_limiter_suite)

BOOST_AUTO_TEST_CASE(the_limit_holds_per_key_and_says_when_the_window_ends) {
  attempt_limiter limit{3, 60s};
  for (int i = 0; i < 3; ++i) {
    BOOST_TEST(limit.admit("a", t0 + std::chrono::seconds{i}).count() == 0);
  }
  BOOST_TEST(limit.admit("a", t0 + 10s).count() == 50); // the window ends at t0 + 60 s
  BOOST_TEST(limit.admit("a", t0 + 59500ms).count() == 1);
  BOOST_TEST(limit.admit("b", t0 + 10s).count() == 0); // another key has its own count
  // A new window starts when the old one ended; refused attempts were not counted.
  for (int i = 0; i < 3; ++i) {
    BOOST_TEST(limit.admit("a", t0 + 60s).count() == 0);
  }
  BOOST_TEST(limit.admit("a", t0 + 61s).count() == 59);
}

BOOST_AUTO_TEST_CASE(zero_turns_the_limit_off) {
  attempt_limiter limit{0};
  for (int i = 0; i < 1000; ++i) {
    BOOST_TEST_REQUIRE(limit.admit("a", t0).count() == 0);
  }
}

BOOST_AUTO_TEST_CASE(past_its_capacity_it_forgets_expired_windows_first) {
  attempt_limiter limit{1, 60s, 2};
  BOOST_TEST(limit.admit("a", t0).count() == 0);
  BOOST_TEST(limit.admit("b", t0 + 30s).count() == 0);
  // Full; a's window has ended by t0 + 61 s, b's has not: b keeps its count.
  BOOST_TEST(limit.admit("c", t0 + 61s).count() == 0);
  BOOST_TEST(limit.admit("b", t0 + 62s).count() == 28);
  // Full of live windows: all are forgotten rather than anyone refused for good.
  BOOST_TEST(limit.admit("d", t0 + 63s).count() == 0);
  BOOST_TEST(limit.admit("b", t0 + 63s).count() == 0);
}

BOOST_AUTO_TEST_SUITE_END()
