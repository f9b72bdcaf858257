// The rate-limit spec of rate_limit.per_user and rate_limit.per_client: `0`, `N/s`,
// `N/min`, `N/h`, and nothing else.

#include <boost/test/unit_test.hpp>

#include "runtime/config/rate_spec.hpp"

using herald::config::parse_rate_spec;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_SUITE(rate_spec)

BOOST_AUTO_TEST_CASE(each_unit_gives_its_window_and_the_count) {
  auto s = parse_rate_spec("5/s");
  BOOST_REQUIRE(s);
  BOOST_CHECK_EQUAL(s->limit, 5);
  BOOST_CHECK(s->window == 1000ms);
  auto m = parse_rate_spec("100/min");
  BOOST_REQUIRE(m);
  BOOST_CHECK_EQUAL(m->limit, 100);
  BOOST_CHECK(m->window == 60000ms);
  auto h = parse_rate_spec("1000000000/h");
  BOOST_REQUIRE(h);
  BOOST_CHECK_EQUAL(h->limit, 1000000000);
  BOOST_CHECK(h->window == 3600000ms);
  BOOST_CHECK(!m->off());
}

BOOST_AUTO_TEST_CASE(zero_means_off) {
  auto s = parse_rate_spec("0");
  BOOST_REQUIRE(s);
  BOOST_CHECK(s->off());
  BOOST_CHECK_EQUAL(s->limit, 0);
}

BOOST_AUTO_TEST_CASE(anything_else_is_refused_with_the_forms_named) {
  for (const char* bad : {"", "/s", "5", "5/", "5/sec", "5/m", "5/hour", "5 /s", " 5/s", "5/s ",
                          "-5/s", "+5/s", "05/s", "0/s", "5.5/s", "1000000001/h",
                          "99999999999/s", "5/s/s", "five/s", "5/S"}) {
    BOOST_TEST_CONTEXT("spec '" << bad << "'") {
      std::string error;
      BOOST_CHECK(!parse_rate_spec(bad, &error));
      BOOST_CHECK_NE(error.find("expected 0, N/s, N/min or N/h"), std::string::npos);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
