// The body of POST /api/v1/notifications/bulk (actors/gateway/bulk.hpp): both forms, the
// item limit, per-item errors in the single POST's words, the user_ids form's derived
// request_ids; and the priorities every message carries (actors/messaging/topology.hpp).

#include <boost/test/unit_test.hpp>

#include "actors/gateway/bulk.hpp"
#include "actors/messaging/forwarding.hpp"
#include "actors/messaging/topology.hpp"
#include "runtime/time/rfc3339.hpp"

using namespace herald;
using json = nlohmann::json;

namespace {

const std::string ada = "6f1c7a52-3b1e-4e7a-9c1e-0b5d2a9e4f10";
const std::string bob = "0b5d2a9e-3b1e-4e7a-9c1e-6f1c7a524f10";

json item(const std::string& user) {
  return {{"notification_type", "email"}, {"user_id", user}, {"template_code", "welcome"},
          {"variables", {{"name", "Ada"}}}};
}

json to_users(std::vector<std::string> users) {
  return {{"notification_type", "email"}, {"template_code", "welcome"},
          {"variables", {{"name", "all"}}}, {"user_ids", users}, {"request_id", "news-1"},
          {"priority", 9}};
}

} // namespace

BOOST_AUTO_TEST_SUITE(bulk_request)

BOOST_AUTO_TEST_CASE(each_item_is_judged_by_the_single_posts_checks_in_order) {
  auto bad = item(ada);
  bad["colour"] = "red";
  auto parsed = parse_bulk_request({{"notifications", {item(ada), bad, 7, item(bob)}}}, 10, "");
  BOOST_REQUIRE_EQUAL(parsed.status, 200);
  BOOST_REQUIRE_EQUAL(parsed.items.size(), 4u);
  BOOST_CHECK_EQUAL(parsed.items[0].status, 0);
  BOOST_CHECK_EQUAL(parsed.items[0].r.user_id, ada);
  BOOST_CHECK_EQUAL(parsed.items[1].status, 400);
  BOOST_CHECK_EQUAL(parsed.items[1].error, parse_notification_request(bad).error);
  BOOST_CHECK_EQUAL(parsed.items[2].status, 400);
  BOOST_CHECK_EQUAL(parsed.items[3].r.user_id, bob);
}

BOOST_AUTO_TEST_CASE(a_send_at_ahead_is_kept_for_scheduling_and_one_now_or_past_sends_at_once) {
  // An item with a send_at ahead is valid and carries it (run_bulk schedules it); a send_at
  // now or past is the single POST's "at once": no send_at.
  auto soon = item(ada);
  soon["send_at"] = time::format_rfc3339(time::now() + std::chrono::hours{1});
  auto past = item(bob);
  past["send_at"] = "2020-01-01T00:00:00Z";
  auto too_far = item(ada);
  too_far["send_at"] = time::format_rfc3339(time::now() + std::chrono::hours{24 * 31});
  auto parsed = parse_bulk_request({{"notifications", {soon, past, too_far}}}, 10, "");
  BOOST_REQUIRE_EQUAL(parsed.items.size(), 3u);
  BOOST_CHECK_EQUAL(parsed.items[0].status, 0);
  BOOST_REQUIRE(parsed.items[0].r.send_at);
  BOOST_CHECK_EQUAL(time::format_rfc3339(*parsed.items[0].r.send_at), soon["send_at"]);
  BOOST_CHECK_EQUAL(parsed.items[1].status, 0);
  BOOST_CHECK(!parsed.items[1].r.send_at);
  BOOST_CHECK_EQUAL(parsed.items[2].status, 400); // the single POST's 30-day limit
  BOOST_CHECK_EQUAL(parsed.items[2].error, parse_notification_request(too_far).error);
  // The user_ids form: the shared send_at applies to every item.
  auto form = to_users({ada, bob});
  form["send_at"] = soon["send_at"];
  auto whole = parse_bulk_request(form, 10, "");
  BOOST_REQUIRE_EQUAL(whole.status, 200);
  BOOST_REQUIRE_EQUAL(whole.items.size(), 2u);
  for (auto& it : whole.items) {
    BOOST_CHECK_EQUAL(it.status, 0);
    BOOST_REQUIRE(it.r.send_at);
    BOOST_CHECK_EQUAL(time::format_rfc3339(*it.r.send_at), soon["send_at"]);
  }
  form["send_at"] = too_far["send_at"];
  auto refused = parse_bulk_request(form, 10, "");
  BOOST_CHECK_EQUAL(refused.status, 400);
  BOOST_CHECK_NE(refused.error.find("'send_at'"), std::string::npos);
}

BOOST_AUTO_TEST_CASE(more_items_than_bulk_max_is_a_413_naming_the_setting) {
  json three = {{"notifications", {item(ada), item(ada), item(ada)}}};
  BOOST_CHECK_EQUAL(parse_bulk_request(three, 3, "").status, 200);
  auto over = parse_bulk_request(three, 2, "");
  BOOST_CHECK_EQUAL(over.status, 413);
  BOOST_CHECK_NE(over.error.find("gateway.bulk_max"), std::string::npos);
  BOOST_CHECK_EQUAL(parse_bulk_request(to_users({ada, bob, "c"}), 2, "").status, 413);
}

BOOST_AUTO_TEST_CASE(a_body_of_neither_form_is_a_400) {
  BOOST_CHECK_EQUAL(parse_bulk_request(json::object(), 10, "").status, 400);
  BOOST_CHECK_EQUAL(parse_bulk_request({{"notifications", json::array()}}, 10, "").status, 400);
  BOOST_CHECK_EQUAL(
    parse_bulk_request({{"notifications", {item(ada)}}, {"user_ids", {ada}}}, 10, "").status, 400);
  BOOST_CHECK_EQUAL(parse_bulk_request({{"notifications", {item(ada)}}, {"x", 1}}, 10, "").status,
                    400);
  auto wrong_priority = to_users({ada});
  wrong_priority["priority"] = 0;
  auto p = parse_bulk_request(wrong_priority, 10, "");
  BOOST_CHECK_EQUAL(p.status, 400);
  BOOST_CHECK_NE(p.error.find("'priority'"), std::string::npos);
  // An Idempotency-Key names one request: the notifications form has one per item.
  BOOST_CHECK_EQUAL(parse_bulk_request({{"notifications", {item(ada)}}}, 10, "k").status, 400);
}

BOOST_AUTO_TEST_CASE(the_user_ids_form_derives_a_request_id_per_user) {
  auto parsed = parse_bulk_request(to_users({ada, bob, ada}), 10, "");
  BOOST_REQUIRE_EQUAL(parsed.status, 200);
  BOOST_REQUIRE_EQUAL(parsed.items.size(), 3u);
  BOOST_CHECK_EQUAL(parsed.items[0].r.request_id, "news-1:" + ada);
  BOOST_CHECK_EQUAL(parsed.items[1].r.request_id, "news-1:" + bob);
  BOOST_CHECK_EQUAL(parsed.items[1].r.priority, 9);
  BOOST_CHECK_EQUAL(parsed.items[2].status, 400); // the same user twice
  BOOST_CHECK_NE(parsed.items[2].error.find("index 0"), std::string::npos);
  // The same user's item has the same fingerprint whatever the order.
  auto swapped = parse_bulk_request(to_users({bob, ada}), 10, "");
  BOOST_CHECK_EQUAL(swapped.items[1].fingerprint, parsed.items[0].fingerprint);
  BOOST_CHECK_NE(parsed.items[0].fingerprint, parsed.items[1].fingerprint);
  // The header stands for the request_id.
  auto body = to_users({ada});
  body.erase("request_id");
  BOOST_CHECK_EQUAL(parse_bulk_request(body, 10, "hdr").items[0].r.request_id, "hdr:" + ada);
  body["request_id"] = std::string(max_bulk_request_id_length + 1, 'r');
  BOOST_CHECK_EQUAL(parse_bulk_request(body, 10, "").status, 400);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(priorities_of_messages)

BOOST_AUTO_TEST_CASE(the_channel_queues_are_priority_queues_and_messages_keep_their_priority) {
  auto t = messaging::topology();
  for (auto& q : t.queues) {
    bool channel = q.name == messaging::email_queue || q.name == messaging::push_queue;
    BOOST_TEST_CONTEXT(q.name) {
      BOOST_CHECK_EQUAL(q.int_args.count("x-max-priority"), channel ? 1u : 0u);
    }
  }
  BOOST_CHECK_EQUAL(messaging::priority_of(R"({"priority": 10})"), 10);
  BOOST_CHECK_EQUAL(messaging::priority_of(R"({"priority": 1})"), 1);
  BOOST_CHECK_EQUAL(messaging::priority_of(R"({"priority": 11})"), 5);
  BOOST_CHECK_EQUAL(messaging::priority_of("not json"), 5);
  runtime::retry_schedule s;
  s.steps = {std::chrono::milliseconds{100}};
  auto plan = messaging::plan_retry(1, s, 0.5);
  BOOST_REQUIRE(plan);
  BOOST_CHECK_EQUAL(messaging::to_delay_queue(R"({"priority": 9})", "email", "n", "c", *plan).priority,
                    9);
  BOOST_CHECK_EQUAL(messaging::to_failed_queue(R"({"priority": 2})", "email", "n", "c", "x", "",
                                               1).priority,
                    2);
}

BOOST_AUTO_TEST_SUITE_END()
