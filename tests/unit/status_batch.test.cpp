#include <boost/test/unit_test.hpp>

#include "actors/notification_store/status_batch.hpp"

using namespace herald;

namespace {

std::string quote(const std::string& s) {
  return "'" + s + "'";
}

status_event event(std::string id, std::string status, std::string detail = {}) {
  status_event e;
  e.notification_id = std::move(id);
  e.status = std::move(status);
  e.detail = std::move(detail);
  return e;
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1)) {
    ++n;
  }
  return n;
}

} // namespace

BOOST_AUTO_TEST_SUITE(status_batch)

BOOST_AUTO_TEST_CASE(distinct_notifications_share_one_upsert_that_appends_to_their_timelines) {
  auto a = event("id-a", "queued");
  auto b = event("id-b", "sent", "ok");
  auto sql = status_batch_statements({&a, &b}, "node-1", quote);
  BOOST_REQUIRE_EQUAL(sql.size(), 1u);
  BOOST_CHECK_EQUAL(count(sql[0], "INSERT INTO notifications "), 1u);
  BOOST_CHECK_NE(sql[0].find("'id-a'"), std::string::npos);
  BOOST_CHECK_NE(sql[0].find("'id-b'"), std::string::npos);
  BOOST_CHECK_EQUAL(count(sql[0], "'node-1'"), 1u); // once per statement, not per row
  BOOST_CHECK_NE(sql[0].find("ELSE notifications.timeline || EXCLUDED.timeline"),
                 std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_notification_seen_twice_goes_into_a_later_round_in_arrival_order) {
  auto queued = event("id-a", "queued");
  auto other = event("id-b", "queued");
  auto sent = event("id-a", "sent");
  auto sql = status_batch_statements({&queued, &other, &sent}, "n", quote);
  BOOST_REQUIRE_EQUAL(sql.size(), 2u); // two upsert rounds
  // A row is (id, request_id, user_id, channel, template_code, status, ...).
  const std::string a_queued = "('id-a', '', '', '', '', 'queued'";
  const std::string a_sent = "('id-a', '', '', '', '', 'sent'";
  BOOST_CHECK_NE(sql[0].find(a_queued), std::string::npos);
  BOOST_CHECK_NE(sql[0].find("('id-b'"), std::string::npos);
  BOOST_CHECK_EQUAL(sql[0].find(a_sent), std::string::npos);
  BOOST_CHECK_NE(sql[1].find(a_sent), std::string::npos);
  BOOST_CHECK_EQUAL(sql[1].find("('id-b'"), std::string::npos);
}

BOOST_AUTO_TEST_CASE(values_go_through_the_quote_function) {
  auto e = event("id-a", "failed", "it's broken");
  auto sql = status_batch_statements({&e}, "n", [](const std::string& s) {
    return "Q(" + s + ")";
  });
  BOOST_CHECK_NE(sql[0].find("Q(it's broken)"), std::string::npos);
  BOOST_CHECK_EQUAL(sql[0].find("'it's"), std::string::npos);
}

BOOST_AUTO_TEST_CASE(an_empty_batch_writes_nothing) {
  BOOST_CHECK(status_batch_statements({}, "n", quote).empty());
}

BOOST_AUTO_TEST_SUITE_END()
