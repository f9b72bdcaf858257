// A bulk request's scheduled items while PostgreSQL (notification_db) is down: the
// schedule store cannot commit them, so each is rejected 503 (never a 202 for a send that
// is not held anywhere) and its request_id claim is released; once PostgreSQL is back the
// same bulk is scheduled, not refused as "in progress", and each item is delivered once.

#include <boost/test/unit_test.hpp>

#include "runtime/time/rfc3339.hpp"
#include "support/herald_api.hpp"
#include "support/notification_db.hpp"

using namespace herald::test;

namespace {

/// The gateway checks users and templates from its node-local copies, so it reaches the
/// schedule store while PostgreSQL is down.
const std::map<std::string, std::string> outage_settings = {
  {"HERALD_GATEWAY_CACHE_TTL_MS", "600000"},
  {"HERALD_TEMPLATES_INDEX_TTL_MS", "600000"},
  {"HERALD_RATE_LIMIT_PER_USER", "0"},
};

http_reply post_bulk(const running_node& node, const json& body) {
  return http_call("POST", node.url() + "/api/v1/notifications/bulk", body.dump(), {},
                   std::chrono::seconds{60});
}

} // namespace

BOOST_AUTO_TEST_SUITE(scheduled_bulk_outage)

BOOST_AUTO_TEST_CASE(scheduled_items_are_503_while_postgres_is_down_and_their_request_ids_free) {
  running_node node{outage_settings};
  auto code = create_email_template(node);
  auto domain = "@" + unique("schedbulkpg") + ".example.com";
  std::vector<std::string> users;
  for (int u = 0; u < 3; ++u) {
    users.push_back(create_user(node, {{"email", unique("u") + domain}}));
  }
  // One notification per user, at once: the gateway's copies of the users and template.
  json warm = {{"notification_type", "email"}, {"template_code", code},
               {"variables", {{"name", "warm"}}}, {"user_ids", users}};
  auto warmed = post_bulk(node, warm);
  BOOST_REQUIRE_EQUAL(warmed.status, 202);
  std::vector<std::string> warm_ids;
  for (auto& item : warmed.body["data"]["items"]) {
    warm_ids.push_back(item["notification_id"]);
  }
  BOOST_REQUIRE(eventually([&] {
    auto statuses = read_statuses(warm_ids);
    return statuses.size() == warm_ids.size()
           && std::all_of(statuses.begin(), statuses.end(),
                          [](auto& s) { return s.second == "sent"; });
  }));

  auto when = herald::time::format_rfc3339(herald::time::now() + std::chrono::seconds{12});
  json campaign = {{"notification_type", "email"}, {"template_code", code},
                   {"variables", {{"name", "later"}}}, {"user_ids", users},
                   {"request_id", unique("campaign-")}, {"send_at", when}};
  {
    stopped_server postgres{"postgres"};
    auto down = post_bulk(node, campaign);
    BOOST_TEST_CONTEXT("while postgres is down: " << down.raw) {
      BOOST_REQUIRE_EQUAL(down.status, 207);
      BOOST_CHECK_EQUAL(down.body["data"]["accepted"], 0);
      for (auto& item : down.body["data"]["items"]) {
        BOOST_CHECK_EQUAL(item["status"], "rejected");
        BOOST_CHECK_EQUAL(item["code"], 503);
      }
    }
    BOOST_REQUIRE(postgres.start());
  }
  // The claims were released: the same request is scheduled now (the store's connection
  // comes back within its retry, hence eventually).
  http_reply again;
  BOOST_REQUIRE(eventually([&] {
    again = post_bulk(node, campaign);
    return again.status != 207 || again.body["data"]["items"][0]["code"] != 503;
  }));
  std::vector<std::string> ids;
  BOOST_TEST_CONTEXT("after postgres is back: " << again.raw) {
    BOOST_REQUIRE_EQUAL(again.status, 202);
    for (auto& item : again.body["data"]["items"]) {
      BOOST_CHECK_EQUAL(item["status"], "scheduled");
      ids.push_back(item["notification_id"]);
    }
  }
  BOOST_REQUIRE(eventually([&] {
    auto statuses = read_statuses(ids);
    return statuses.size() == ids.size()
           && std::all_of(statuses.begin(), statuses.end(),
                          [](auto& s) { return s.second == "sent"; });
  }));
  auto mailed = mails_per_notification(domain);
  BOOST_CHECK_EQUAL(mailed.size(), warm_ids.size() + ids.size());
  for (auto& id : ids) {
    BOOST_CHECK_EQUAL(mailed[id], 1);
  }
}

BOOST_AUTO_TEST_SUITE_END()
