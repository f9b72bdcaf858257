#include <boost/test/unit_test.hpp>

#include "runtime/time/quiet_hours.hpp"
#include "runtime/time/rfc3339.hpp"

using namespace herald::time;

namespace {

instant at(const char* text) {
  auto t = parse_rfc3339(text);
  BOOST_REQUIRE_MESSAGE(t, "test timestamp " << text);
  return *t;
}

/// "" when outside, else the end of the period as RFC 3339 UTC.
std::string until(const char* start, const char* end, const char* zone, const char* when) {
  auto q = quiet_at(start, end, zone, at(when));
  BOOST_REQUIRE_MESSAGE(q.error.empty(), q.error);
  return q.inside ? format_rfc3339(q.until) : std::string{};
}

} // namespace

BOOST_AUTO_TEST_SUITE(quiet_hours)

BOOST_AUTO_TEST_CASE(an_overnight_period_runs_from_start_to_end_the_next_morning) {
  // Berlin in winter is UTC+1: 22:00-07:00 local is 21:00Z-06:00Z.
  BOOST_TEST(until("22:00", "07:00", "Europe/Berlin", "2026-01-15T22:30:00Z")
             == "2026-01-16T06:00:00.000Z");
  BOOST_TEST(until("22:00", "07:00", "Europe/Berlin", "2026-01-16T03:00:00Z")
             == "2026-01-16T06:00:00.000Z");
  BOOST_TEST(until("22:00", "07:00", "Europe/Berlin", "2026-01-16T12:00:00Z") == "");
}

BOOST_AUTO_TEST_CASE(the_start_minute_is_inside_and_the_end_minute_is_not) {
  BOOST_TEST(until("22:00", "07:00", "Europe/Berlin", "2026-01-15T20:59:59.999Z") == "");
  BOOST_TEST(until("22:00", "07:00", "Europe/Berlin", "2026-01-15T21:00:00Z")
             == "2026-01-16T06:00:00.000Z");
  BOOST_TEST(until("22:00", "07:00", "Europe/Berlin", "2026-01-16T05:59:59.999Z")
             == "2026-01-16T06:00:00.000Z");
  BOOST_TEST(until("22:00", "07:00", "Europe/Berlin", "2026-01-16T06:00:00Z") == "");
}

BOOST_AUTO_TEST_CASE(a_same_day_period_is_only_between_its_times) {
  // New York in summer is UTC-4: 13:00-15:00 local is 17:00Z-19:00Z.
  BOOST_TEST(until("13:00", "15:00", "America/New_York", "2026-07-01T16:59:00Z") == "");
  BOOST_TEST(until("13:00", "15:00", "America/New_York", "2026-07-01T17:00:00Z")
             == "2026-07-01T19:00:00.000Z");
  BOOST_TEST(until("13:00", "15:00", "America/New_York", "2026-07-01T18:59:00Z")
             == "2026-07-01T19:00:00.000Z");
  BOOST_TEST(until("13:00", "15:00", "America/New_York", "2026-07-01T19:00:00Z") == "");
  // 03:00 local: inside an overnight period would be, not this one.
  BOOST_TEST(until("13:00", "15:00", "America/New_York", "2026-07-01T07:00:00Z") == "");
}

BOOST_AUTO_TEST_CASE(the_night_clocks_spring_forward_ends_at_local_seven_in_summer_time) {
  // Berlin, 29 March 2026: 02:00 CET becomes 03:00 CEST. 22:00 CET is 21:00Z; 07:00
  // CEST is 05:00Z, an hour earlier in UTC than the night before.
  BOOST_TEST(until("22:00", "07:00", "Europe/Berlin", "2026-03-28T21:30:00Z")
             == "2026-03-29T05:00:00.000Z");
  BOOST_TEST(until("22:00", "07:00", "Europe/Berlin", "2026-03-29T04:59:00Z")
             == "2026-03-29T05:00:00.000Z");
  BOOST_TEST(until("22:00", "07:00", "Europe/Berlin", "2026-03-29T05:00:00Z") == "");
}

BOOST_AUTO_TEST_CASE(an_end_inside_the_skipped_hour_is_the_moment_clocks_jump) {
  // 02:30 does not exist in Berlin on 29 March 2026: the period ends at the jump (01:00Z).
  BOOST_TEST(until("23:00", "02:30", "Europe/Berlin", "2026-03-28T22:30:00Z")
             == "2026-03-29T01:00:00.000Z");
}

BOOST_AUTO_TEST_CASE(an_end_in_the_repeated_hour_is_the_first_one_still_ahead) {
  // Berlin, 25 October 2026: 03:00 CEST becomes 02:00 CET; 02:30 happens twice, at 00:30Z
  // and at 01:30Z.
  BOOST_TEST(until("22:00", "02:30", "Europe/Berlin", "2026-10-24T21:00:00Z")
             == "2026-10-25T00:30:00.000Z");
  // 02:10 CET, the second time round: inside again, until the second 02:30.
  BOOST_TEST(until("22:00", "02:30", "Europe/Berlin", "2026-10-25T01:10:00Z")
             == "2026-10-25T01:30:00.000Z");
}

BOOST_AUTO_TEST_CASE(new_york_fall_back_makes_the_night_an_hour_longer) {
  // 1 November 2026: 02:00 EDT becomes 01:00 EST. 23:00 EDT on 31 October is 03:00Z;
  // 07:00 EST is 12:00Z.
  BOOST_TEST(until("22:00", "07:00", "America/New_York", "2026-11-01T03:00:00Z")
             == "2026-11-01T12:00:00.000Z");
  BOOST_TEST(until("22:00", "07:00", "America/New_York", "2026-11-01T11:59:00Z")
             == "2026-11-01T12:00:00.000Z");
  BOOST_TEST(until("22:00", "07:00", "America/New_York", "2026-11-01T12:00:00Z") == "");
  // 8 March 2026, spring forward: 07:00 EDT is 11:00Z.
  BOOST_TEST(until("22:00", "07:00", "America/New_York", "2026-03-08T04:00:00Z")
             == "2026-03-08T11:00:00.000Z");
}

BOOST_AUTO_TEST_CASE(a_zone_fourteen_hours_ahead_uses_its_own_calendar_day) {
  // Kiritimati is UTC+14: 09:00Z on 1 June is 23:00 local on 1 June; 07:00 local on
  // 2 June is 17:00Z on 1 June.
  BOOST_TEST(until("22:00", "07:00", "Pacific/Kiritimati", "2026-06-01T09:00:00Z")
             == "2026-06-01T17:00:00.000Z");
  // 11:00Z on 1 June is 01:00 local on 2 June: still the same night.
  BOOST_TEST(until("22:00", "07:00", "Pacific/Kiritimati", "2026-06-01T11:00:00Z")
             == "2026-06-01T17:00:00.000Z");
  // Kathmandu is UTC+05:45.
  BOOST_TEST(until("00:00", "06:00", "Asia/Kathmandu", "2026-06-01T00:00:00Z")
             == "2026-06-01T00:15:00.000Z");
}

BOOST_AUTO_TEST_CASE(an_unknown_zone_or_a_bad_time_is_an_error_not_a_quiet_period) {
  auto q = quiet_at("22:00", "07:00", "Mars/Olympus_Mons", at("2026-01-15T23:00:00Z"));
  BOOST_TEST(!q.inside);
  BOOST_TEST(q.error.find("Mars/Olympus_Mons") != std::string::npos);
  BOOST_TEST(!quiet_at("24:00", "07:00", "UTC", at("2026-01-15T23:00:00Z")).error.empty());
  BOOST_TEST(!quiet_at("07:00", "07:00", "UTC", at("2026-01-15T23:00:00Z")).error.empty());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(rfc3339)

BOOST_AUTO_TEST_CASE(offsets_and_fractions_name_the_same_instant) {
  auto z = parse_rfc3339("2026-11-30T01:45:09Z");
  BOOST_REQUIRE(z);
  BOOST_TEST(format_rfc3339(*z) == "2026-11-30T01:45:09.000Z");
  BOOST_TEST((parse_rfc3339("2026-11-30T03:45:09+02:00") == z));
  BOOST_TEST((parse_rfc3339("2026-11-29T20:15:09-05:30") == z));
  BOOST_TEST(format_rfc3339(*parse_rfc3339("2026-11-30T01:45:09.1234567Z"))
             == "2026-11-30T01:45:09.123Z");
  BOOST_TEST(format_rfc3339(*parse_rfc3339("2024-02-29T23:59:59.5z")) == "2024-02-29T23:59:59.500Z");
  // RFC 3339 5.6: "T" and "Z" may be lower case.
  BOOST_TEST((parse_rfc3339("2026-11-30t01:45:09z") == z));
  // Microseconds for the list's since/until; milliseconds are cut, never rounded up.
  BOOST_TEST(format_rfc3339_us(*parse_rfc3339_us("2026-11-30T01:45:09.1234567Z"))
             == "2026-11-30T01:45:09.123456Z");
  BOOST_TEST(format_rfc3339(*parse_rfc3339("1969-12-31T23:59:59.9996Z"))
             == "1969-12-31T23:59:59.999Z");
}

BOOST_AUTO_TEST_CASE(anything_but_one_strict_spelling_with_an_offset_is_refused) {
  for (const char* bad :
       {"2026-11-30T01:45:09", "2026-11-30", "2026-11-30 01:45:09Z",
        "2026-02-30T01:45:09Z", "2026-11-30T24:00:00Z", "2026-11-30T01:60:00Z",
        "2026-11-30T01:45:60Z", "2026-11-30T01:45:09+2:00", "2026-11-30T01:45:09+0200",
        "2026-11-30T01:45:09+24:00", "2026-11-30T01:45:09.Z", "2026-11-30T01:45:09Zjunk",
        "2026-11-30T01:45:09.1234567890Z", "tomorrow", "", "+12026-11-30T01:45:09Z"}) {
    BOOST_TEST(!parse_rfc3339(bad), "accepted \"" << bad << "\"");
  }
}

BOOST_AUTO_TEST_SUITE_END()
