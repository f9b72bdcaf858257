// GET /api/v1/notifications (issue 12's list): newest first, each filter (user_id, status,
// channel, since, until) and their combination, pages and the list meta, a login token
// limited to its own user, and every bad parameter a 400 naming it. Rows with chosen
// statuses, channels and times are written straight into notification_db (the statuses a
// worker would take minutes to reach); notifications sent through the API show up too.

#include <boost/test/unit_test.hpp>

#include <pqxx/pqxx>

#include "actors/common/ids.hpp"
#include "support/herald_api.hpp"
#include "support/notification_db.hpp"

using namespace herald::test;

namespace {

const std::map<std::string, std::string> api_only{{"HERALD_ROLES", "gateway,users,templates"}};

struct row {
  std::string id;
  std::string status;
  std::string channel;
  std::string created_at; ///< RFC 3339, UTC
};

/// Inserts `rows` for `user` into notification_db.
void insert_rows(const std::string& user, const std::vector<row>& rows) {
  pqxx::connection c{notification_db_url()};
  pqxx::work tx{c};
  for (auto& r : rows) {
    tx.exec_params("INSERT INTO notifications (id, user_id, channel, template_code, status, "
                   "created_at, updated_at) VALUES ($1::uuid, $2, $3, 'listed', $4, "
                   "$5::timestamptz, $5::timestamptz)",
                   r.id, user, r.channel, r.status, r.created_at);
  }
  tx.commit();
}

/// 25 rows for `user`, one a minute from 2026-01-01T10:00Z: row i has status "sent" when
/// i is even, "dead" when i % 4 == 1, else "cancelled"; channel "push" when i % 5 == 0.
std::vector<row> make_rows(const std::string& user) {
  std::vector<row> out;
  for (int i = 0; i < 25; ++i) {
    char at[32];
    std::snprintf(at, sizeof at, "2026-01-01T10:%02d:00Z", i);
    out.push_back({herald::make_uuid(), i % 2 == 0 ? "sent" : (i % 4 == 1 ? "dead" : "cancelled"),
                   i % 5 == 0 ? "push" : "email", at});
  }
  insert_rows(user, out);
  return out;
}

http_reply list(const running_node& node, const std::string& query,
                const std::map<std::string, std::string>& headers = {}) {
  return http_call("GET", node.url() + "/api/v1/notifications" + query, {}, headers);
}

std::vector<std::string> ids_of(const http_reply& r) {
  std::vector<std::string> out;
  for (auto& item : r.body["data"]) {
    out.push_back(item["notification_id"].get<std::string>());
  }
  return out;
}

/// The ids of `rows` matching `keep`, newest first.
template <class Keep>
std::vector<std::string> expected(const std::vector<row>& rows, Keep keep) {
  std::vector<std::string> out;
  for (auto i = rows.rbegin(); i != rows.rend(); ++i) {
    if (keep(*i)) {
      out.push_back(i->id);
    }
  }
  return out;
}

struct list_fixture {
  running_node node{api_only};
  std::string user = herald::make_uuid(); // rows need no user record
  std::vector<row> rows = make_rows(user);
  std::string q = "?user_id=" + user;
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(notification_list, list_fixture)

BOOST_AUTO_TEST_CASE(lists_a_users_notifications_newest_first_with_the_meta) {
  auto r = list(node, q + "&limit=100");
  BOOST_REQUIRE_MESSAGE(r.status == 200, r.raw);
  BOOST_TEST(r.body["success"] == true);
  BOOST_TEST(ids_of(r) == expected(rows, [](auto&) { return true; }), boost::test_tools::per_element());
  auto& first = r.body["data"][0];
  BOOST_TEST(first["created_at"] == "2026-01-01T10:24:00.000Z");
  BOOST_TEST(first["user_id"] == user);
  BOOST_TEST(first["status"] == "sent");
  BOOST_TEST(first["channel"] == "email");
  BOOST_TEST(!first.contains("timeline")); // the timeline is GET /{id}'s
  auto& meta = r.body["meta"];
  BOOST_TEST(meta == (json{{"total", 25}, {"limit", 100}, {"page", 1}, {"total_pages", 1},
                           {"has_next", false}, {"has_previous", false}, {"total_capped", false}}));
}

BOOST_AUTO_TEST_CASE(pages_split_the_list_without_overlap) {
  auto all = expected(rows, [](auto&) { return true; });
  std::vector<std::string> seen;
  for (int page = 1; page <= 3; ++page) {
    auto r = list(node, q + "&limit=10&page=" + std::to_string(page));
    BOOST_REQUIRE_MESSAGE(r.status == 200, r.raw);
    auto& meta = r.body["meta"];
    BOOST_TEST(meta["total"] == 25);
    BOOST_TEST(meta["total_pages"] == 3);
    BOOST_TEST(meta["page"] == page);
    BOOST_TEST(meta["has_next"] == (page < 3));
    BOOST_TEST(meta["has_previous"] == (page > 1));
    auto ids = ids_of(r);
    BOOST_TEST(ids.size() == (page < 3 ? 10u : 5u));
    seen.insert(seen.end(), ids.begin(), ids.end());
  }
  BOOST_TEST(seen == all, boost::test_tools::per_element());
  auto past = list(node, q + "&limit=10&page=4");
  BOOST_REQUIRE_EQUAL(past.status, 200);
  BOOST_TEST(past.body["data"].empty());
  BOOST_TEST(past.body["meta"]["has_previous"] == true);
}

BOOST_AUTO_TEST_CASE(each_filter_and_their_combination_select_exactly_their_rows) {
  auto check = [&](const std::string& extra, auto keep) {
    BOOST_TEST_CONTEXT(extra) {
      auto r = list(node, q + "&limit=100" + extra);
      BOOST_REQUIRE_MESSAGE(r.status == 200, r.raw);
      auto want = expected(rows, keep);
      BOOST_TEST(!want.empty());
      BOOST_TEST(ids_of(r) == want, boost::test_tools::per_element());
      BOOST_TEST(r.body["meta"]["total"] == want.size());
    }
  };
  check("&status=dead", [](const row& r) { return r.status == "dead"; });
  check("&status=cancelled", [](const row& r) { return r.status == "cancelled"; });
  check("&channel=push", [](const row& r) { return r.channel == "push"; });
  check("&since=2026-01-01T10:20:00Z", [](const row& r) { return r.created_at >= "2026-01-01T10:20"; });
  check("&until=2026-01-01T10:03:00Z", [](const row& r) { return r.created_at < "2026-01-01T10:03"; });
  // The same instant in another offset.
  check("&since=2026-01-01T11:05:00%2B01:00&until=2026-01-01T10:10:00Z", [](const row& r) {
    return r.created_at >= "2026-01-01T10:05" && r.created_at < "2026-01-01T10:10";
  });
  check("&status=sent&channel=push&since=2026-01-01T10:05:00Z", [](const row& r) {
    return r.status == "sent" && r.channel == "push" && r.created_at >= "2026-01-01T10:05";
  });
  auto none = list(node, q + "&status=queued");
  BOOST_REQUIRE_EQUAL(none.status, 200);
  BOOST_TEST(none.body["data"].empty());
  BOOST_TEST(none.body["meta"]["total"] == 0);
  BOOST_TEST(none.body["meta"]["total_pages"] == 0);
}

BOOST_AUTO_TEST_CASE(a_sent_notification_is_listed_first_for_its_user) {
  auto sender = create_user(node);
  auto code = create_email_template(node);
  auto older = post_notification(node, sender, code, {{"name", "one"}});
  auto newer = post_notification(node, sender, code, {{"name", "two"}});
  auto r = list(node, "?user_id=" + sender);
  BOOST_REQUIRE_MESSAGE(r.status == 200, r.raw);
  BOOST_TEST(ids_of(r) == (std::vector<std::string>{newer, older}), boost::test_tools::per_element());
  BOOST_TEST(r.body["data"][0]["status"] == "queued");
  BOOST_TEST(r.body["data"][0]["template_code"] == code);
  // Unfiltered, the newest notification of all comes first.
  auto everything = list(node, "?limit=1");
  BOOST_REQUIRE_EQUAL(everything.status, 200);
  BOOST_TEST(ids_of(everything) == std::vector<std::string>{newer}, boost::test_tools::per_element());
  BOOST_TEST(everything.body["meta"]["total"].get<int>() >= 27);
}

BOOST_AUTO_TEST_CASE(a_login_token_lists_only_its_own_user) {
  auto email = unique("lister-") + "@example.com";
  auto me = create_user(node, {{"email", email}, {"password", "list my own"}});
  auto code = create_email_template(node);
  auto mine = post_notification(node, me, code, {{"name", "me"}});
  auto login = post_json(node.url(1) + "/api/v1/users/login",
                         {{"email", email}, {"password", "list my own"}});
  BOOST_REQUIRE_MESSAGE(login.status == 200, login.raw);
  auto token = bearer(login.body["data"]["token"].get<std::string>());
  auto own = list(node, "", token); // no user_id: its own
  BOOST_REQUIRE_MESSAGE(own.status == 200, own.raw);
  BOOST_TEST(ids_of(own) == std::vector<std::string>{mine}, boost::test_tools::per_element());
  auto named = list(node, "?user_id=" + me + "&status=queued", token);
  BOOST_REQUIRE_EQUAL(named.status, 200);
  BOOST_TEST(ids_of(named) == std::vector<std::string>{mine}, boost::test_tools::per_element());
  check_error(list(node, q, token), 403, "own user"); // the fixture's user is another
}

BOOST_AUTO_TEST_CASE(the_total_is_counted_up_to_ten_thousand_and_then_capped) {
  auto many = herald::make_uuid();
  {
    pqxx::connection c{notification_db_url()};
    pqxx::work tx{c};
    tx.exec_params("INSERT INTO notifications (id, user_id, channel, status, created_at) "
                   "SELECT gen_random_uuid(), $1, 'email', 'sent', "
                   "timestamptz '2026-02-01T00:00:00Z' + g * interval '1 s' "
                   "FROM generate_series(1, 10050) AS g",
                   many);
    tx.commit();
  }
  auto r = list(node, "?user_id=" + many);
  BOOST_REQUIRE_MESSAGE(r.status == 200, r.raw);
  BOOST_TEST(r.body["meta"] == (json{{"total", 10000}, {"limit", 20}, {"page", 1},
                                     {"total_pages", 500}, {"has_next", true},
                                     {"has_previous", false}, {"total_capped", true}}));
  BOOST_TEST(r.body["data"][0]["created_at"] == "2026-02-01T02:47:30.000Z"); // the 10,050th second
  auto last = list(node, "?user_id=" + many + "&page=100&limit=100");
  BOOST_REQUIRE_EQUAL(last.status, 200);
  BOOST_TEST(last.body["data"].size() == 100u);
  BOOST_TEST(last.body["meta"]["has_next"] == false);
  // Narrowed by time, the rest is counted exactly.
  auto narrowed = list(node, "?user_id=" + many + "&until=2026-02-01T00:01:00Z");
  BOOST_REQUIRE_EQUAL(narrowed.status, 200);
  BOOST_TEST(narrowed.body["meta"]["total"] == 59);
  BOOST_TEST(narrowed.body["meta"]["total_capped"] == false);
}

BOOST_AUTO_TEST_CASE(bad_parameters_are_400s_naming_them) {
  check_error(list(node, "?user_id=nobody"), 400, "'user_id'");
  check_error(list(node, "?status=delivered"), 400, "'status'");
  check_error(list(node, "?channel=sms"), 400, "'channel'");
  check_error(list(node, "?since=yesterday"), 400, "'since'");
  check_error(list(node, "?until=2026-02-30T00:00:00Z"), 400, "'until'");
  check_error(list(node, "?since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z"), 400, "'until'");
  check_error(list(node, "?page=0"), 400, "'page'");
  check_error(list(node, "?limit=1000"), 400, "'limit'");
  check_error(list(node, "?page=600&limit=20"), 400, "'page'");
  check_error(list(node, "?userid=" + user), 400, "'userid'");
}

BOOST_AUTO_TEST_SUITE_END()
