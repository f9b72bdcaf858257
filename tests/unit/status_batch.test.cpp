#include <boost/test/unit_test.hpp>

#include "actors/notification_store/status_batch.hpp"

using namespace herald;

namespace {

status_event event(std::string id, std::string status, std::string detail = {}) {
  status_event e;
  e.notification_id = std::move(id);
  e.status = std::move(status);
  e.detail = std::move(detail);
  return e;
}

} // namespace

BOOST_AUTO_TEST_SUITE(status_batch)

BOOST_AUTO_TEST_CASE(distinct_notifications_share_one_upsert_with_a_column_per_array) {
  auto a = event("id-a", "queued");
  auto b = event("id-b", "sent", "ok");
  b.attempts = 2;
  b.template_version = 3;
  auto rounds = status_batch_rounds({&a, &b});
  BOOST_REQUIRE_EQUAL(rounds.size(), 1u);
  auto& c = rounds[0].columns;
  BOOST_REQUIRE_EQUAL(c.size(), 11u);
  BOOST_CHECK_EQUAL(c[0], R"({"id-a","id-b"})");
  BOOST_CHECK_EQUAL(c[5], R"({"queued","sent"})");
  BOOST_CHECK_EQUAL(c[6], "{0,2}");
  BOOST_CHECK_EQUAL(c[7], R"({"","ok"})");
  BOOST_CHECK_EQUAL(c[10], "{0,3}");
}

BOOST_AUTO_TEST_CASE(a_notification_seen_twice_goes_into_a_later_round_in_arrival_order) {
  auto queued = event("id-a", "queued");
  auto other = event("id-b", "queued");
  auto sent = event("id-a", "sent");
  auto rounds = status_batch_rounds({&queued, &other, &sent});
  BOOST_REQUIRE_EQUAL(rounds.size(), 2u);
  BOOST_CHECK_EQUAL(rounds[0].columns[0], R"({"id-a","id-b"})");
  BOOST_CHECK_EQUAL(rounds[0].columns[5], R"({"queued","queued"})");
  BOOST_CHECK_EQUAL(rounds[1].columns[0], R"({"id-a"})");
  BOOST_CHECK_EQUAL(rounds[1].columns[5], R"({"sent"})");
}

BOOST_AUTO_TEST_CASE(the_upsert_appends_to_the_timeline_and_puts_a_late_queued_event_first) {
  std::string sql = status_upsert_sql;
  BOOST_CHECK_NE(sql.find("'node', $12::text"), std::string::npos);
  BOOST_CHECK_NE(sql.find("THEN EXCLUDED.timeline || notifications.timeline"), std::string::npos);
  BOOST_CHECK_NE(sql.find("ELSE notifications.timeline || EXCLUDED.timeline"), std::string::npos);
}

BOOST_AUTO_TEST_CASE(array_elements_are_quoted_so_any_text_stays_data) {
  BOOST_CHECK_EQUAL(pg_text_array({"it's", "a,b", "{x}", "say \"hi\"", "back\\slash", "NULL", ""}),
                    R"({"it's","a,b","{x}","say \"hi\"","back\\slash","NULL",""})");
  BOOST_CHECK_EQUAL(pg_text_array({}), "{}");
  BOOST_CHECK_EQUAL(pg_int_array({1, -2, 30}), "{1,-2,30}");
}

BOOST_AUTO_TEST_CASE(an_empty_batch_writes_nothing) {
  BOOST_CHECK(status_batch_rounds({}).empty());
}

BOOST_AUTO_TEST_SUITE_END()
