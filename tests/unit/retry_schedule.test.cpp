#include <boost/test/unit_test.hpp>

#include "runtime/supervision/retry_schedule.hpp"

using namespace herald::runtime;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_SUITE(retry_schedule_suite)

BOOST_AUTO_TEST_CASE(five_failures_take_the_five_steps_and_the_sixth_is_dead) {
  retry_schedule s;
  for (int failures = 1; failures <= 5; ++failures) {
    BOOST_CHECK_EQUAL(*s.step_after(failures), static_cast<std::size_t>(failures - 1));
  }
  BOOST_CHECK(!s.step_after(6));
  BOOST_CHECK(!s.step_after(0));
}

BOOST_AUTO_TEST_CASE(delays_double_from_two_seconds_without_jitter) {
  retry_schedule s;
  s.jitter = 0.0;
  std::vector<long long> ms;
  for (std::size_t i = 0; i < s.steps.size(); ++i) {
    ms.push_back(s.delay(i, 0.3).count());
  }
  BOOST_CHECK((ms == std::vector<long long>{2000, 4000, 8000, 16000, 32000}));
}

BOOST_AUTO_TEST_CASE(jitter_stays_within_its_band) {
  retry_schedule s; // 10 %
  BOOST_CHECK_EQUAL(s.delay(0, 0.0).count(), 1800);
  BOOST_CHECK_EQUAL(s.delay(0, 0.5).count(), 2000);
  BOOST_CHECK_EQUAL(s.delay(0, 0.999999).count(), 2200);
}

BOOST_AUTO_TEST_CASE(configured_steps_replace_the_defaults) {
  retry_schedule s;
  s.steps = {100ms, 200ms};
  BOOST_CHECK(s.step_after(2).has_value());
  BOOST_CHECK(!s.step_after(3));
}

BOOST_AUTO_TEST_SUITE_END()
