#include <boost/test/unit_test.hpp>

#include "actors/messaging/topology.hpp"
#include "actors/scheduler/quiet_hours_deferral.hpp"

using namespace herald;

BOOST_AUTO_TEST_SUITE(quiet_hours_deferral)

BOOST_AUTO_TEST_CASE(a_deferred_message_is_kept_exactly_as_queued_until_the_period_ends) {
  messaging::notification_job job;
  job.notification_id = "6f1c7a52-3b1e-4e7a-9c1e-0b5d2a9e4f10";
  job.user_id = "u-1";
  job.template_code = "welcome";
  job.request_id = "r-1";
  job.correlation_id = "c-1";
  job.priority = 5;
  job.body = R"({"notification_id": "6f1c7a52-3b1e-4e7a-9c1e-0b5d2a9e4f10", "attempt": 2})";
  job.headers = {{messaging::attempt_header, "2"}};
  auto until = *time::parse_rfc3339("2026-01-16T06:00:00Z");
  auto s = quiet_hours_send(job, "push", until);
  BOOST_TEST(s.notification_id == job.notification_id);
  BOOST_TEST(s.send_at == "2026-01-16T06:00:00.000Z");
  BOOST_TEST(s.reason == "quiet_hours");
  BOOST_TEST(s.detail == "quiet hours until 2026-01-16T06:00:00.000Z");
  BOOST_TEST(s.routing_key == "push");
  BOOST_TEST(s.body == job.body);
  BOOST_TEST((s.headers == job.headers));
  BOOST_TEST(s.correlation_id == "c-1");
  BOOST_TEST(s.priority == 5);
  BOOST_TEST(s.user_id == "u-1");
  BOOST_TEST(s.request_id == "r-1");
}

BOOST_AUTO_TEST_SUITE_END()
