#include <boost/test/unit_test.hpp>

#include "actors/gateway/list_request.hpp"

using herald::parse_list_request;
using query = std::map<std::string, std::string>;

namespace {

const std::string user = "0b4f5c4e-8a43-4d0e-9a35-3c8f0e7d2a11";

/// The 400's text for `q` (REQUIREs a refusal).
std::string error_of(const query& q) {
  std::string error;
  auto r = parse_list_request(q, error);
  BOOST_REQUIRE_MESSAGE(!r, "accepted a bad query");
  return error;
}

void check_names(const query& q, const std::string& name) {
  auto e = error_of(q);
  BOOST_CHECK_MESSAGE(e.find("'" + name + "'") != std::string::npos, e);
}

} // namespace

BOOST_AUTO_TEST_SUITE(list_request)

BOOST_AUTO_TEST_CASE(every_filter_is_read_and_timestamps_normalised_to_utc) {
  std::string error;
  auto r = parse_list_request({{"user_id", user},
                               {"status", "cancelled"},
                               {"channel", "push"},
                               {"since", "2026-11-30T09:30:00+01:00"},
                               {"until", "2026-11-30T08:45:00.25Z"},
                               {"page", "3"},
                               {"limit", "50"}},
                              error);
  BOOST_REQUIRE_MESSAGE(r, error);
  BOOST_CHECK_EQUAL(r->filter.user_id, user);
  BOOST_CHECK_EQUAL(r->filter.status, "cancelled");
  BOOST_CHECK_EQUAL(r->filter.channel, "push");
  BOOST_CHECK_EQUAL(r->filter.since, "2026-11-30T08:30:00.000000Z");
  BOOST_CHECK_EQUAL(r->filter.until, "2026-11-30T08:45:00.250000Z");
  BOOST_CHECK_EQUAL(r->page, 3);
  BOOST_CHECK_EQUAL(r->limit, 50);
}

BOOST_AUTO_TEST_CASE(no_parameters_is_the_first_page_of_everything) {
  std::string error;
  auto r = parse_list_request({}, error);
  BOOST_REQUIRE(r);
  BOOST_CHECK(herald::filter_params(r->filter).empty());
  BOOST_CHECK_EQUAL(r->page, 1);
  BOOST_CHECK_EQUAL(r->limit, 20);
}

BOOST_AUTO_TEST_CASE(each_status_of_the_contract_is_a_filter) {
  for (auto* s : {"queued", "scheduled", "processing", "sent", "retrying", "failed", "skipped",
                  "dead", "cancelled"}) {
    std::string error;
    BOOST_CHECK_MESSAGE(parse_list_request({{"status", s}}, error), s << ": " << error);
  }
}

BOOST_AUTO_TEST_CASE(bad_values_are_refused_naming_the_parameter) {
  check_names({{"user_id", "42"}}, "user_id");
  check_names({{"user_id", ""}}, "user_id");
  check_names({{"status", "delivered"}}, "status");
  check_names({{"status", ""}}, "status");
  check_names({{"channel", "sms"}}, "channel");
  check_names({{"since", "yesterday"}}, "since");
  check_names({{"since", "2026-02-30T00:00:00Z"}}, "since");      // no such day
  check_names({{"since", "2026-11-30T24:00:00Z"}}, "since");
  check_names({{"until", "2026-11-30T08:00:00"}}, "until");       // no offset
  check_names({{"until", "2026-11-30 08:00:00Z"}}, "until");      // no T
  check_names({{"until", "2026-11-30T08:00:00.Z"}}, "until");     // empty fraction
  check_names({{"since", "2026-11-30T09:00:00Z"}, {"until", "2026-11-30T09:00:00Z"}}, "until");
  check_names({{"page", "0"}}, "page");
  check_names({{"limit", "101"}}, "limit");
  check_names({{"limit", "ten"}}, "limit");
}

BOOST_AUTO_TEST_CASE(unknown_parameters_are_refused_by_name) {
  check_names({{"user", user}}, "user");
  check_names({{"status", "sent"}, {"sort", "asc"}}, "sort");
}

BOOST_AUTO_TEST_CASE(pages_end_at_the_counted_matches) {
  std::string error;
  BOOST_CHECK(parse_list_request({{"page", "100"}, {"limit", "100"}}, error)); // rows 9901-10000
  check_names({{"page", "101"}, {"limit", "100"}}, "page");
  check_names({{"page", "501"}}, "page"); // limit 20
}

BOOST_AUTO_TEST_CASE(list_sql_has_one_parameter_per_present_filter) {
  herald::notification_filter f;
  f.status = "sent";
  f.until = "2026-11-30T08:00:00.000000Z";
  BOOST_CHECK_EQUAL(herald::filter_params(f).size(), 2u);
  auto sql = herald::list_sql(f);
  BOOST_CHECK_NE(sql.find("WHERE status = $1 AND created_at < $2::timestamptz"), std::string::npos);
  BOOST_CHECK_NE(sql.find("ORDER BY notifications.created_at DESC, notifications.id DESC LIMIT $3 OFFSET $4"),
                 std::string::npos);
  BOOST_CHECK_EQUAL(herald::list_sql({}).find("WHERE"), std::string::npos);
  BOOST_CHECK_NE(herald::count_sql(f).find("LIMIT 10001"), std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
