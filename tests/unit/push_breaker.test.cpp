// A push provider's breaker as the push sender keeps it (actors/messaging/provider_breaker):
// calls are admitted while closed, none while open and cooling down, one probe after the
// cool-down, and only the probe decides; its registry entry follows every transition.

#include <boost/test/unit_test.hpp>

#include "actors/messaging/provider_breaker.hpp"

using namespace herald;
using messaging::admission;
using runtime::breaker_state;
using namespace std::chrono_literals;

namespace {

struct fixture {
  runtime::registry registry;
  runtime::entry_ptr entry = registry.enlist("push_breaker/fcm", "push", "circuit_breaker");
  messaging::provider_breaker breaker{"fcm",
                                      "FCM",
                                      "https://fcm.example",
                                      runtime::breaker_policy{3, 0.5, 20, 1000ms, 0.0},
                                      entry,
                                      {"push", "test", {}}};
  messaging::provider_breaker::clock::time_point t0 = messaging::provider_breaker::clock::now();

  void fail_calls(int n, messaging::provider_breaker::clock::time_point at) {
    for (int i = 0; i < n; ++i) {
      BOOST_REQUIRE(breaker.admit(at) == admission::call);
      breaker.report(admission::call, true, "503", at, 0.5);
    }
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(push_breaker, fixture)

BOOST_AUTO_TEST_CASE(consecutive_provider_failures_open_it_and_nothing_is_admitted_while_cooling) {
  fail_calls(2, t0);
  BOOST_CHECK(breaker.state() == breaker_state::closed);
  BOOST_REQUIRE(breaker.admit(t0) == admission::call);
  auto wait = breaker.report(admission::call, true, "connection refused", t0, 0.5);
  BOOST_REQUIRE(wait);
  BOOST_CHECK_EQUAL(wait->count(), 1000);
  BOOST_CHECK(breaker.state() == breaker_state::open);
  BOOST_CHECK(breaker.cooling(t0 + 999ms));
  BOOST_CHECK(breaker.admit(t0 + 500ms) == admission::refused);
  BOOST_CHECK_EQUAL(entry->state(), "open");
  BOOST_CHECK_EQUAL(entry->counters().at("opened"), 1u);
  BOOST_CHECK_EQUAL(entry->to_json()["info"]["last_error"], "connection refused");
}

BOOST_AUTO_TEST_CASE(answered_sends_do_not_count_as_failures) {
  for (int i = 0; i < 10; ++i) {
    BOOST_REQUIRE(breaker.admit(t0) == admission::call);
    breaker.report(admission::call, false, {}, t0, 0.5); // gone, refused, 429: answered
  }
  BOOST_CHECK(breaker.state() == breaker_state::closed);
}

BOOST_AUTO_TEST_CASE(after_the_cool_down_one_probe_is_admitted_and_decides) {
  fail_calls(3, t0);
  auto later = t0 + 1001ms;
  BOOST_CHECK(!breaker.cooling(later));
  BOOST_CHECK(breaker.admit(later) == admission::probe);
  BOOST_CHECK(breaker.state() == breaker_state::half_open);
  BOOST_CHECK(breaker.admit(later) == admission::refused); // one probe at a time
  // A call admitted before the breaker opened ends now: it decides nothing.
  BOOST_CHECK(!breaker.report(admission::call, false, {}, later, 0.5));
  BOOST_CHECK(breaker.state() == breaker_state::half_open);
  breaker.report(admission::probe, false, {}, later, 0.5);
  BOOST_CHECK(breaker.state() == breaker_state::closed);
  BOOST_CHECK_EQUAL(entry->counters().at("probes"), 1u);
  BOOST_CHECK_EQUAL(entry->counters().at("closed"), 1u);
}

BOOST_AUTO_TEST_CASE(a_failed_probe_opens_it_for_another_cool_down) {
  fail_calls(3, t0);
  auto later = t0 + 1001ms;
  BOOST_REQUIRE(breaker.admit(later) == admission::probe);
  auto wait = breaker.report(admission::probe, true, "timeout", later, 0.5);
  BOOST_REQUIRE(wait);
  BOOST_CHECK(breaker.state() == breaker_state::open);
  BOOST_CHECK(breaker.cooling(later + 500ms));
  BOOST_CHECK_EQUAL(entry->counters().at("probe_failures"), 1u);
  BOOST_CHECK_EQUAL(entry->to_json()["info"]["last_error"], "probe: timeout");
}

BOOST_AUTO_TEST_SUITE_END()
