#include <boost/test/unit_test.hpp>

#include "runtime/supervision/circuit_breaker.hpp"

using namespace herald::runtime;
using namespace std::chrono_literals;

namespace {

using time_point = circuit_breaker::clock::time_point;

const time_point start = time_point{} + 1h;

breaker_policy without_jitter() {
  breaker_policy p;
  p.jitter = 0.0;
  return p;
}

/// Reports `n` failures at `now`.
void fail(circuit_breaker& b, int n, time_point now) {
  for (int i = 0; i < n; ++i) {
    BOOST_REQUIRE(b.allow(now));
    b.on_failure(now, 0.5);
  }
}

} // namespace

BOOST_AUTO_TEST_SUITE(circuit_breaker_suite)

BOOST_AUTO_TEST_CASE(five_consecutive_failures_open_it_and_four_do_not) {
  circuit_breaker b{without_jitter(), start};
  fail(b, 4, start);
  BOOST_CHECK(b.state() == breaker_state::closed);
  b.on_success(start);
  fail(b, 4, start);
  BOOST_CHECK(b.state() == breaker_state::closed);
  fail(b, 1, start + 1s);
  BOOST_CHECK(b.state() == breaker_state::open);
  BOOST_CHECK(b.since() == start + 1s);
  BOOST_CHECK(!b.allow(start + 2s));
}

BOOST_AUTO_TEST_CASE(half_the_last_twenty_calls_failing_open_it) {
  circuit_breaker b{without_jitter(), start};
  // Alternating outcomes never make five in a row; the rate trips it once 20 were seen.
  for (int i = 0; i < 19; ++i) {
    BOOST_REQUIRE(b.allow(start));
    if (i % 2 == 0) {
      b.on_failure(start, 0.5); // 10 failures in 19 calls
    } else {
      b.on_success(start);
    }
  }
  BOOST_CHECK(b.state() == breaker_state::closed);
  b.on_success(start); // 10 of 20: 50 %
  BOOST_CHECK(b.state() == breaker_state::closed); // the rate is judged on a failure
  b.on_failure(start, 0.5); // the last 20 calls, this one included, hold 10 failures
  BOOST_CHECK(b.state() == breaker_state::open);
}

BOOST_AUTO_TEST_CASE(a_rate_below_the_threshold_keeps_it_closed) {
  circuit_breaker b{without_jitter(), start};
  for (int i = 0; i < 100; ++i) {
    BOOST_REQUIRE(b.allow(start));
    if (i % 3 == 0) {
      b.on_failure(start, 0.5); // one in three
    } else {
      b.on_success(start);
    }
  }
  BOOST_CHECK(b.state() == breaker_state::closed);
}

BOOST_AUTO_TEST_CASE(after_the_cool_down_exactly_one_probe_goes_through) {
  circuit_breaker b{without_jitter(), start};
  fail(b, 5, start);
  BOOST_CHECK(!b.allow(start + 29s));
  BOOST_CHECK(b.state() == breaker_state::open);
  BOOST_CHECK(b.allow(start + 30s));
  BOOST_CHECK(b.state() == breaker_state::half_open);
  BOOST_CHECK(!b.allow(start + 30s)); // the probe is still out
  BOOST_CHECK(!b.allow(start + 40s));
}

BOOST_AUTO_TEST_CASE(a_successful_probe_closes_it_and_starts_the_count_afresh) {
  circuit_breaker b{without_jitter(), start};
  fail(b, 5, start);
  BOOST_REQUIRE(b.allow(start + 30s));
  b.on_success(start + 31s);
  BOOST_CHECK(b.state() == breaker_state::closed);
  BOOST_CHECK(b.since() == start + 31s);
  BOOST_CHECK_EQUAL(b.transitions(), 3u); // closed → open → half-open → closed
  fail(b, 4, start + 32s);
  BOOST_CHECK(b.state() == breaker_state::closed);
}

BOOST_AUTO_TEST_CASE(a_failed_probe_opens_it_for_another_cool_down) {
  circuit_breaker b{without_jitter(), start};
  fail(b, 5, start);
  BOOST_REQUIRE(b.allow(start + 30s));
  b.on_failure(start + 31s, 0.5);
  BOOST_CHECK(b.state() == breaker_state::open);
  BOOST_CHECK(b.retry_at() == start + 61s);
  BOOST_CHECK(!b.allow(start + 60s));
  BOOST_CHECK(b.allow(start + 61s));
}

BOOST_AUTO_TEST_CASE(late_failures_of_calls_started_before_it_opened_change_nothing) {
  circuit_breaker b{without_jitter(), start};
  fail(b, 5, start);
  auto opened_until = b.retry_at();
  b.on_failure(start + 10s, 0.5);
  BOOST_CHECK(b.retry_at() == opened_until);
  BOOST_CHECK_EQUAL(b.transitions(), 1u);
}

BOOST_AUTO_TEST_CASE(the_cool_down_is_jittered_within_its_band) {
  breaker_policy p; // 30 s, jitter 0.2
  circuit_breaker low{p, start};
  circuit_breaker high{p, start};
  for (int i = 0; i < 5; ++i) {
    low.on_failure(start, 0.0);
    high.on_failure(start, 0.999999);
  }
  BOOST_CHECK(low.retry_at() == start + 24s);
  BOOST_CHECK(high.retry_at() == start + 36s);
}

BOOST_AUTO_TEST_SUITE_END()
