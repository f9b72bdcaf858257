// POST /api/v1/notifications/bulk (issue 12) through real RabbitMQ, PostgreSQL, Redis and
// SMTP: a 10,000-item bulk delivers 10,000 mails; a mixed bulk answers 207 with each
// item's error in request order, the very text the single POST gives; the user_ids form
// sends one template to many users; a repeated bulk delivers nothing twice; the item and
// body limits hold (only for this route); a wrong credential is refused. Items with a
// send_at ahead are scheduled (either form): delivered once each, not before send_at
// (asserted on the timeline's PostgreSQL-stamped entries, as tests/integration/
// scheduling.test.cpp does), and a repeat, also through the database once Redis forgot
// (FLUSHALL), answers `duplicate` and schedules nothing twice.

#include <boost/test/unit_test.hpp>

#include <set>

#include "adapters/redis/client.hpp"
#include "runtime/time/rfc3339.hpp"
#include "support/herald_api.hpp"
#include "support/notification_db.hpp"

using namespace herald::test;

namespace {

const std::string bulk_route = "/api/v1/notifications/bulk";

http_reply post_bulk(const running_node& node, const json& body,
                     const std::map<std::string, std::string>& headers = {}) {
  return http_call("POST", node.url() + bulk_route, body.dump(), headers,
                   std::chrono::seconds{60});
}

json email_item(const std::string& user, const std::string& code, const std::string& name) {
  return {{"notification_type", "email"}, {"user_id", user}, {"template_code", code},
          {"variables", {{"name", name}}}};
}

/// The notification ids of a bulk answer's accepted items, in order.
std::vector<std::string> accepted_ids(const http_reply& r) {
  std::vector<std::string> ids;
  for (auto& item : r.body["data"]["items"]) {
    if (item.contains("notification_id")) {
      ids.push_back(item["notification_id"].get<std::string>());
    }
  }
  return ids;
}

/// True once every one of `ids` has status sent in notification_db.
bool all_sent(const std::vector<std::string>& ids) {
  auto statuses = read_statuses(ids);
  if (statuses.size() != ids.size()) {
    return false;
  }
  for (auto& [id, status] : statuses) {
    if (status != "sent") {
      return false;
    }
  }
  return true;
}

const std::map<std::string, std::string> no_rate_limit{{"HERALD_RATE_LIMIT_PER_USER", "0"}};

namespace htime = herald::time;

std::string in_seconds(int s) {
  return htime::format_rfc3339(htime::now() + std::chrono::seconds{s});
}

htime::instant parse_time(const std::string& text) {
  auto t = htime::parse_rfc3339(text);
  BOOST_REQUIRE_MESSAGE(t, "not RFC 3339: " << text);
  return *t;
}

/// The time of the first timeline entry of notification `id` with `status` (REQUIREd).
htime::instant entry_time(const std::string& id, const std::string& status) {
  auto timeline = read_notification_row(id).timeline;
  for (auto& e : timeline) {
    if (e.value("status", "") == status) {
      return parse_time(e.value("at", ""));
    }
  }
  BOOST_FAIL("no timeline entry " << status << " for " << id << " in " << timeline.dump());
  return {};
}

/// The statuses of a bulk answer's items, in order.
std::vector<std::string> item_statuses(const http_reply& r) {
  std::vector<std::string> out;
  for (auto& item : r.body["data"]["items"]) {
    out.push_back(item.value("status", ""));
  }
  return out;
}

/// Empties Redis: the gateway's request_id claims are gone, only the database remembers.
void forget_claims() {
  herald::redis::client redis{env("HERALD_TEST_REDIS_URL")};
  std::string error;
  BOOST_REQUIRE_MESSAGE(redis.pipeline({{"FLUSHALL"}}, &error), error);
}

} // namespace

BOOST_AUTO_TEST_SUITE(gateway_bulk)

BOOST_AUTO_TEST_CASE(a_bulk_of_10000_notifications_delivers_10000_mails) {
  constexpr int users = 20;
  constexpr int items = 10000;
  running_node node{no_rate_limit};
  auto code = create_email_template(node);
  auto domain = "@" + unique("bulk10k") + ".example.com";
  std::vector<std::string> user_ids;
  for (int u = 0; u < users; ++u) {
    user_ids.push_back(create_user(node, {{"email", unique("u") + domain}}));
  }
  json list = json::array();
  for (int i = 0; i < items; ++i) {
    list.push_back(email_item(user_ids[i % users], code, "n" + std::to_string(i)));
  }
  auto started = std::chrono::steady_clock::now();
  auto r = post_bulk(node, {{"notifications", list}});
  auto answered = std::chrono::steady_clock::now();
  BOOST_TEST_CONTEXT(r.raw.substr(0, 500)) {
    BOOST_REQUIRE_EQUAL(r.status, 202);
    BOOST_CHECK_EQUAL(r.body["data"]["accepted"], items);
    BOOST_CHECK_EQUAL(r.body["data"]["rejected"], 0);
  }
  auto ids = accepted_ids(r);
  BOOST_REQUIRE_EQUAL(ids.size(), static_cast<std::size_t>(items));
  BOOST_CHECK_EQUAL(std::set<std::string>(ids.begin(), ids.end()).size(), ids.size());
  BOOST_REQUIRE(eventually([&] { return all_sent(ids); }, std::chrono::seconds{50}));
  auto delivered = std::chrono::steady_clock::now();
  auto mailed = mails_per_notification(domain);
  std::size_t once = 0;
  for (auto& id : ids) {
    once += mailed.count(id) && mailed[id] == 1 ? 1 : 0;
  }
  BOOST_CHECK_EQUAL(mailed.size(), ids.size()); // no mail for anything else
  BOOST_CHECK_EQUAL(once, ids.size());          // each exactly once
  using ms = std::chrono::milliseconds;
  BOOST_TEST_MESSAGE("10000-item bulk: answered in "
                     << std::chrono::duration_cast<ms>(answered - started).count()
                     << " ms, all sent after "
                     << std::chrono::duration_cast<ms>(delivered - started).count() << " ms");
}

BOOST_AUTO_TEST_CASE(a_mixed_bulk_answers_207_with_each_items_single_post_error_in_order) {
  running_node node{{{"HERALD_ROLES", "gateway,users,templates"}}};
  auto code = create_email_template(node);
  auto user = create_user(node);
  auto unknown_user = email_item("1b4e28ba-2fa1-11d2-883f-0016d3cca427", code, "x");
  auto extra_field = email_item(user, code, "x");
  extra_field["colour"] = "red";
  auto missing_variable = email_item(user, code, "x");
  missing_variable["variables"] = json::object();
  json items = json::array({email_item(user, code, "first"), unknown_user, extra_field,
                            "not an object", missing_variable, email_item(user, code, "last")});
  auto r = post_bulk(node, {{"notifications", items}});
  BOOST_TEST_CONTEXT(r.raw) {
    BOOST_REQUIRE_EQUAL(r.status, 207);
    BOOST_CHECK(r.body["success"] == true);
    auto& data = r.body["data"];
    BOOST_CHECK_EQUAL(data["accepted"], 2);
    BOOST_CHECK_EQUAL(data["rejected"], 4);
    auto& out = data["items"];
    BOOST_REQUIRE_EQUAL(out.size(), items.size());
    std::vector<std::string> statuses;
    for (std::size_t i = 0; i < out.size(); ++i) {
      BOOST_CHECK_EQUAL(out[i]["index"], i);
      statuses.push_back(out[i]["status"]);
    }
    std::vector<std::string> expected{"queued", "rejected", "rejected",
                                      "rejected", "rejected", "queued"};
    BOOST_CHECK_EQUAL_COLLECTIONS(statuses.begin(), statuses.end(), expected.begin(),
                                  expected.end());
    // Each refused item carries what the single POST answers for the same body.
    for (std::size_t i : {1, 2, 4}) {
      auto single = http_call("POST", node.url() + "/api/v1/notifications", items[i].dump());
      BOOST_TEST_CONTEXT("item " << i << ": " << single.raw) {
        BOOST_CHECK_EQUAL(out[i]["code"], single.status);
        BOOST_CHECK_EQUAL(out[i]["error"], single.body["error"]);
      }
    }
    BOOST_CHECK_EQUAL(out[1]["code"], 404);
    BOOST_CHECK_EQUAL(out[2]["code"], 400);
    BOOST_CHECK_EQUAL(out[3]["code"], 400);
    BOOST_CHECK_EQUAL(out[4]["code"], 422);
    BOOST_CHECK_EQUAL(status_of(node, out[0]["notification_id"]), "queued");
    BOOST_CHECK_EQUAL(status_of(node, out[5]["notification_id"]), "queued");
  }
}

BOOST_AUTO_TEST_CASE(one_template_to_many_user_ids_and_a_repeat_delivers_nothing_twice) {
  running_node node;
  auto code = create_email_template(node);
  auto domain = "@" + unique("bulkusers") + ".example.com";
  std::vector<std::string> users;
  for (int u = 0; u < 3; ++u) {
    users.push_back(create_user(node, {{"email", unique("u") + domain}}));
  }
  auto request_id = unique("bulk-req-");
  json body = {{"notification_type", "email"}, {"template_code", code},
               {"variables", {{"name", "all"}}}, {"user_ids", users},
               {"request_id", request_id}, {"priority", 7}};
  auto first = post_bulk(node, body);
  BOOST_TEST_CONTEXT(first.raw) {
    BOOST_REQUIRE_EQUAL(first.status, 202);
    BOOST_CHECK_EQUAL(first.body["data"]["accepted"], 3);
  }
  auto ids = accepted_ids(first);
  BOOST_REQUIRE_EQUAL(ids.size(), 3u);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    BOOST_CHECK_EQUAL(first.body["data"]["items"][i]["status"], "queued");
    auto record = notification(node, ids[i]);
    BOOST_CHECK_EQUAL(record["user_id"], users[i]);
    BOOST_CHECK_EQUAL(record["request_id"], request_id + ":" + users[i]);
  }
  BOOST_REQUIRE(eventually([&] { return all_sent(ids); }));

  // The same bulk again, users in another order: every item is the first one's.
  std::swap(body["user_ids"][0], body["user_ids"][2]);
  auto again = post_bulk(node, body);
  BOOST_TEST_CONTEXT(again.raw) {
    BOOST_REQUIRE_EQUAL(again.status, 202);
    auto& items = again.body["data"]["items"];
    BOOST_CHECK_EQUAL(items[0]["notification_id"], ids[2]);
    BOOST_CHECK_EQUAL(items[1]["notification_id"], ids[1]);
    BOOST_CHECK_EQUAL(items[2]["notification_id"], ids[0]);
    for (auto& item : items) {
      BOOST_CHECK_EQUAL(item["status"], "duplicate");
    }
  }
  // And a notifications-form bulk repeated with its request_ids.
  json list = json::array();
  for (auto& u : users) {
    auto item = email_item(u, code, "list");
    item["request_id"] = unique("item-");
    list.push_back(item);
  }
  auto listed = post_bulk(node, {{"notifications", list}});
  BOOST_REQUIRE_EQUAL(listed.status, 202);
  auto list_ids = accepted_ids(listed);
  auto relisted = post_bulk(node, {{"notifications", list}});
  BOOST_REQUIRE_EQUAL(relisted.status, 202);
  BOOST_CHECK(accepted_ids(relisted) == list_ids);
  for (auto& item : relisted.body["data"]["items"]) {
    BOOST_CHECK_EQUAL(item["status"], "duplicate");
  }
  BOOST_REQUIRE(eventually([&] { return all_sent(list_ids); }));
  auto mailed = mails_per_notification(domain);
  BOOST_CHECK_EQUAL(mailed.size(), 6u); // 3 + 3 notifications, no more
  for (auto& [id, count] : mailed) {
    BOOST_CHECK_MESSAGE(count == 1, id << " mailed " << count << " times");
  }
}

BOOST_AUTO_TEST_CASE(the_item_and_body_limits_hold_for_the_bulk_route_only) {
  running_node node{{{"HERALD_ROLES", "gateway,users,templates"},
                     {"HERALD_GATEWAY_BULK_MAX", "5"},
                     {"HERALD_GATEWAY_BULK_MAX_BODY_BYTES", "1500000"}}};
  auto code = create_email_template(node);
  auto user = create_user(node);
  json six = json::array();
  for (int i = 0; i < 6; ++i) {
    six.push_back(email_item(user, code, "x"));
  }
  auto many = post_bulk(node, {{"notifications", six}});
  check_error(many, 413, "gateway.bulk_max");
  json six_users = json::array();
  for (int i = 0; i < 6; ++i) {
    six_users.push_back(user);
  }
  check_error(post_bulk(node, {{"notification_type", "email"}, {"template_code", code},
                               {"user_ids", six_users}}),
              413, "gateway.bulk_max");
  // ~1.2 MB: past http.max_body_bytes (1 MiB), which the single POST keeps...
  auto padded = email_item(user, code, std::string(1200000, 'a'));
  auto single = http_call("POST", node.url() + "/api/v1/notifications", padded.dump());
  check_error(single, 413, "1048576");
  // ...while the bulk route takes it (here refused by the variables' own limit, per item)...
  auto big = post_bulk(node, {{"notifications", {padded}}});
  BOOST_TEST_CONTEXT(big.raw.substr(0, 300)) {
    BOOST_CHECK_EQUAL(big.status, 207);
    BOOST_CHECK_EQUAL(big.body["data"]["items"][0]["code"], 413);
  }
  // ...up to its own limit.
  auto huge = email_item(user, code, std::string(1600000, 'a'));
  check_error(post_bulk(node, {{"notifications", {huge}}}), 413, "1500000");
}

BOOST_AUTO_TEST_CASE(a_body_of_neither_form_is_a_400) {
  running_node node{{{"HERALD_ROLES", "gateway,users,templates"}}};
  check_error(http_call("POST", node.url() + bulk_route, "[1,2]"), 400, "JSON object");
  check_error(post_bulk(node, json::object()), 400, "'notifications'");
  check_error(post_bulk(node, {{"notifications", json::array()}}), 400, "at least one");
  check_error(post_bulk(node, {{"notifications", "x"}}), 400, "must be an array");
  check_error(post_bulk(node, {{"notifications", {1}}, {"user_ids", {"a"}}}), 400, "not both");
  check_error(post_bulk(node, {{"notifications", {1}}, {"extra", 1}}), 400, "'extra'");
  check_error(post_bulk(node, {{"notification_type", "email"}, {"template_code", "t"},
                               {"user_ids", {"a"}}, {"priority", 11}}),
              400, "'priority'");
  check_error(post_bulk(node, {{"notification_type", "email"}, {"template_code", "t"},
                               {"user_ids", {"a"}}, {"request_id", std::string(92, 'r')}}),
              400, "91");
}

BOOST_AUTO_TEST_CASE(a_wrong_credential_is_refused) {
  running_node node{{{"HERALD_ROLES", "gateway,users,templates"}}};
  auto code = create_email_template(node);
  auto user = create_user(node);
  json body = {{"notifications", {email_item(user, code, "x")}}};
  check_error(post_bulk(node, body, no_credential), 401, "");
  check_error(post_bulk(node, body, bearer("not-a-key")), 401, "");
}

BOOST_AUTO_TEST_CASE(fifty_scheduled_items_are_each_delivered_once_and_not_before_send_at) {
  constexpr int items = 50;
  running_node node{no_rate_limit};
  auto code = create_email_template(node);
  auto domain = "@" + unique("bulksched") + ".example.com";
  std::vector<std::string> user_ids;
  for (int u = 0; u < 5; ++u) {
    user_ids.push_back(create_user(node, {{"email", unique("u") + domain}}));
  }
  auto when = in_seconds(3);
  json list = json::array();
  for (int i = 0; i < items; ++i) {
    auto item = email_item(user_ids[i % user_ids.size()], code, "n" + std::to_string(i));
    item["send_at"] = when;
    list.push_back(item);
  }
  auto r = post_bulk(node, {{"notifications", list}});
  auto send_at = parse_time(when);
  BOOST_TEST((htime::now() < send_at), "the bulk answered after its send_at");
  BOOST_TEST_CONTEXT(r.raw.substr(0, 500)) {
    BOOST_REQUIRE_EQUAL(r.status, 202);
    BOOST_CHECK_EQUAL(r.body["data"]["accepted"], items);
    BOOST_CHECK_EQUAL(r.body["data"]["rejected"], 0);
    for (auto& item : r.body["data"]["items"]) {
      BOOST_CHECK_EQUAL(item["status"], "scheduled");
      BOOST_CHECK_EQUAL(item["send_at"], when);
    }
  }
  auto ids = accepted_ids(r);
  BOOST_REQUIRE_EQUAL(ids.size(), static_cast<std::size_t>(items));
  BOOST_CHECK_EQUAL(std::set<std::string>(ids.begin(), ids.end()).size(), ids.size());
  BOOST_CHECK_EQUAL(status_of(node, ids.front()), "scheduled");
  BOOST_REQUIRE(eventually([&] { return all_sent(ids); }, std::chrono::seconds{30}));
  std::size_t early = 0;
  for (auto& id : ids) {
    // Published by the scheduler (its `queued` entry) and sent, both at or after send_at.
    early += entry_time(id, "queued") < send_at || entry_time(id, "sent") < send_at;
  }
  BOOST_CHECK_EQUAL(early, 0u);
  auto mailed = mails_per_notification(domain);
  std::size_t once = 0;
  for (auto& id : ids) {
    once += mailed.count(id) && mailed[id] == 1 ? 1 : 0;
  }
  BOOST_CHECK_EQUAL(mailed.size(), ids.size());
  BOOST_CHECK_EQUAL(once, ids.size());
}

BOOST_AUTO_TEST_CASE(a_mixed_bulk_schedules_sends_and_refuses_each_item_on_its_own) {
  running_node node{no_rate_limit};
  auto code = create_email_template(node);
  auto domain = "@" + unique("bulkmixed") + ".example.com";
  auto user = create_user(node, {{"email", unique("u") + domain}});
  auto when = in_seconds(3);
  auto later = email_item(user, code, "later");
  later["send_at"] = when;
  auto past = email_item(user, code, "past");
  past["send_at"] = "2020-01-01T00:00:00Z"; // at once
  auto invalid = email_item(user, code, "invalid");
  invalid["send_at"] = "tomorrow";
  json items = json::array({later, email_item(user, code, "now"), invalid, past, later});
  auto r = post_bulk(node, {{"notifications", items}});
  std::vector<std::string> ids;
  BOOST_TEST_CONTEXT(r.raw) {
    BOOST_REQUIRE_EQUAL(r.status, 207);
    BOOST_CHECK_EQUAL(r.body["data"]["accepted"], 4);
    BOOST_CHECK_EQUAL(r.body["data"]["rejected"], 1);
    std::vector<std::string> expected{"scheduled", "queued", "rejected", "queued", "scheduled"};
    auto statuses = item_statuses(r);
    BOOST_CHECK_EQUAL_COLLECTIONS(statuses.begin(), statuses.end(), expected.begin(),
                                  expected.end());
    auto& out = r.body["data"]["items"];
    BOOST_CHECK_EQUAL(out[0]["send_at"], when);
    BOOST_CHECK_EQUAL(out[4]["send_at"], when);
    BOOST_CHECK(!out[1].contains("send_at"));
    BOOST_CHECK(!out[3].contains("send_at"));
    BOOST_CHECK_EQUAL(out[2]["code"], 400);
    BOOST_CHECK_NE(out[2]["error"].get<std::string>().find("'send_at'"), std::string::npos);
    ids = accepted_ids(r);
  }
  BOOST_REQUIRE_EQUAL(ids.size(), 4u); // items 0, 1, 3, 4
  BOOST_CHECK_EQUAL(status_of(node, ids[0]), "scheduled");
  BOOST_CHECK_EQUAL(status_of(node, ids[3]), "scheduled");
  // The ones sent at once are published before the scheduled ones are due.
  auto send_at = parse_time(when);
  BOOST_REQUIRE(eventually([&] { return all_sent({ids[1], ids[2]}); }));
  BOOST_CHECK((entry_time(ids[1], "queued") < send_at));
  BOOST_CHECK((entry_time(ids[2], "queued") < send_at));
  BOOST_REQUIRE(eventually([&] { return all_sent(ids); }));
  BOOST_CHECK((entry_time(ids[0], "sent") >= send_at));
  BOOST_CHECK((entry_time(ids[3], "sent") >= send_at));
  auto mailed = mails_per_notification(domain);
  BOOST_CHECK_EQUAL(mailed.size(), 4u);
  for (auto& [id, count] : mailed) {
    BOOST_CHECK_MESSAGE(count == 1, id << " mailed " << count << " times");
  }
}

BOOST_AUTO_TEST_CASE(a_repeated_scheduled_bulk_answers_duplicate_and_delivers_nothing_twice) {
  running_node node{no_rate_limit};
  auto code = create_email_template(node);
  auto domain = "@" + unique("bulkresched") + ".example.com";
  std::vector<std::string> users;
  for (int u = 0; u < 3; ++u) {
    users.push_back(create_user(node, {{"email", unique("u") + domain}}));
  }
  auto when = in_seconds(4);
  json list = json::array();
  for (auto& u : users) {
    auto item = email_item(u, code, "again");
    item["send_at"] = when;
    item["request_id"] = unique("sched-item-");
    list.push_back(item);
  }
  auto now_item = email_item(users[0], code, "now");
  now_item["request_id"] = unique("now-item-");
  list.push_back(now_item);
  auto first = post_bulk(node, {{"notifications", list}});
  BOOST_TEST_CONTEXT(first.raw) {
    BOOST_REQUIRE_EQUAL(first.status, 202);
    std::vector<std::string> expected{"scheduled", "scheduled", "scheduled", "queued"};
    auto statuses = item_statuses(first);
    BOOST_CHECK_EQUAL_COLLECTIONS(statuses.begin(), statuses.end(), expected.begin(),
                                  expected.end());
  }
  auto ids = accepted_ids(first);
  BOOST_REQUIRE_EQUAL(ids.size(), 4u);
  auto all_duplicates = [&](const http_reply& r, const std::string& what) {
    BOOST_TEST_CONTEXT(what << ": " << r.raw) {
      BOOST_REQUIRE_EQUAL(r.status, 202);
      BOOST_CHECK(accepted_ids(r) == ids);
      for (auto& status : item_statuses(r)) {
        BOOST_CHECK_EQUAL(status, "duplicate");
      }
    }
  };
  // Redis remembers the request_ids...
  all_duplicates(post_bulk(node, {{"notifications", list}}), "repeated");
  // ...and without Redis the database does (one lookup for the batch).
  forget_claims();
  all_duplicates(post_bulk(node, {{"notifications", list}}), "repeated after FLUSHALL");
  // The same request_ids with other bodies: the single POST's 409, item by item.
  forget_claims();
  auto changed = list;
  for (auto& item : changed) {
    item["variables"]["name"] = "changed";
  }
  auto conflict = post_bulk(node, {{"notifications", changed}});
  BOOST_TEST_CONTEXT("changed bodies after FLUSHALL: " << conflict.raw) {
    BOOST_REQUIRE_EQUAL(conflict.status, 207);
    BOOST_CHECK_EQUAL(conflict.body["data"]["accepted"], 0);
    for (auto& item : conflict.body["data"]["items"]) {
      BOOST_CHECK_EQUAL(item["code"], 409);
    }
  }
  BOOST_REQUIRE(eventually([&] { return all_sent(ids); }));
  auto mailed = mails_per_notification(domain);
  BOOST_CHECK_EQUAL(mailed.size(), 4u);
  for (auto& id : ids) {
    BOOST_CHECK_MESSAGE(mailed[id] == 1, id << " mailed " << mailed[id] << " times");
  }
}

BOOST_AUTO_TEST_CASE(the_user_ids_form_with_send_at_schedules_every_item) {
  running_node node{no_rate_limit};
  auto code = create_email_template(node);
  auto domain = "@" + unique("bulkschedusers") + ".example.com";
  std::vector<std::string> users;
  for (int u = 0; u < 4; ++u) {
    users.push_back(create_user(node, {{"email", unique("u") + domain}}));
  }
  auto when = in_seconds(3);
  auto request_id = unique("campaign-");
  json body = {{"notification_type", "email"}, {"template_code", code},
               {"variables", {{"name", "all"}}}, {"user_ids", users},
               {"request_id", request_id}, {"send_at", when}};
  auto r = post_bulk(node, body);
  BOOST_TEST_CONTEXT(r.raw) {
    BOOST_REQUIRE_EQUAL(r.status, 202);
    for (auto& item : r.body["data"]["items"]) {
      BOOST_CHECK_EQUAL(item["status"], "scheduled");
      BOOST_CHECK_EQUAL(item["send_at"], when);
    }
  }
  auto ids = accepted_ids(r);
  BOOST_REQUIRE_EQUAL(ids.size(), users.size());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    auto record = notification(node, ids[i]);
    BOOST_CHECK_EQUAL(record["status"], "scheduled");
    BOOST_CHECK_EQUAL(record["user_id"], users[i]);
    BOOST_CHECK_EQUAL(record["request_id"], request_id + ":" + users[i]);
  }
  auto send_at = parse_time(when);
  BOOST_REQUIRE(eventually([&] { return all_sent(ids); }));
  for (auto& id : ids) {
    BOOST_CHECK((entry_time(id, "sent") >= send_at));
  }
  auto mailed = mails_per_notification(domain);
  BOOST_CHECK_EQUAL(mailed.size(), ids.size());
}

BOOST_AUTO_TEST_SUITE_END()
