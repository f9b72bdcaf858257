// Reading a push.queue message (actors/messaging/notification_job, shared by the channels):
// the priority the TTL and Urgency come from, and what a retried copy carries.

#include <boost/test/unit_test.hpp>

#include <nlohmann/json.hpp>

#include "actors/messaging/notification_job.hpp"
#include "actors/messaging/topology.hpp"
#include "actors/push_sender/push_batch.hpp"

using namespace herald;
using json = nlohmann::json;

namespace {

const std::string id = "6f1c7a52-3b1e-4e7a-9c1e-0b5d2a9e4f10";

queued_message message(json body, std::map<std::string, std::string> headers = {}) {
  queued_message m;
  m.tag = 3;
  m.body = body.dump();
  m.routing_key = "push";
  m.headers = std::move(headers);
  return m;
}

} // namespace

BOOST_AUTO_TEST_SUITE(push_job)

BOOST_AUTO_TEST_CASE(the_priority_is_read_and_out_of_range_counts_as_5) {
  std::string why;
  auto high = messaging::parse_notification_job(
    message({{"notification_id", id}, {"user_id", "u"}, {"priority", 9}}), why);
  BOOST_REQUIRE(high);
  BOOST_CHECK_EQUAL(high->priority, 9);
  for (json p : {json(0), json(11), json("9"), json(nullptr)}) {
    auto j = messaging::parse_notification_job(
      message({{"notification_id", id}, {"priority", p}}), why);
    BOOST_REQUIRE(j);
    BOOST_CHECK_EQUAL(j->priority, 5);
  }
}

BOOST_AUTO_TEST_CASE(a_copy_back_from_a_delay_queue_is_a_retry_with_its_done_devices) {
  std::string why;
  const std::string device = "00000000-0000-4000-8000-00000000000a";
  auto j = messaging::parse_notification_job(
    message({{"notification_id", id}, {"attempt", 1}},
            {{messaging::attempt_header, "3"}, {push_done_header, device}}),
    why);
  BOOST_REQUIRE(j);
  BOOST_CHECK_EQUAL(j->attempt, 3);
  BOOST_CHECK(j->from_retry);
  BOOST_CHECK(parse_push_done(j->headers.at(push_done_header)) == std::set<std::string>{device});
  auto first = messaging::parse_notification_job(message({{"notification_id", id}}), why);
  BOOST_REQUIRE(first);
  BOOST_CHECK(!first->from_retry);
  BOOST_CHECK_EQUAL(first->attempt, 1);
}

BOOST_AUTO_TEST_CASE(unreadable_messages_are_refused_with_the_reason) {
  std::string why;
  queued_message m;
  m.body = "not json";
  BOOST_CHECK(!messaging::parse_notification_job(m, why));
  BOOST_CHECK_EQUAL(why, "the body is not a JSON object");
  BOOST_CHECK(!messaging::parse_notification_job(message({{"notification_id", "x"}}), why));
  BOOST_CHECK_EQUAL(why, "no UUID notification_id");
}

BOOST_AUTO_TEST_SUITE_END()
