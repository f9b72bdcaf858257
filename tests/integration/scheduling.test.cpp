// Scheduled sends, cancelling them, and quiet hours (issue 12), against the real servers.
//
// Times are asserted on what the notification's timeline records: the scheduler's
// `queued` entry (published) and the sender's `sent` entry, both stamped by PostgreSQL's
// clock, against the send_at the gateway answered. The restart test runs Herald as a
// process of its own (herald_process), kills it with SIGKILL before the send is due and
// starts it again: the only scheduler of the test is that process's.

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <thread>

#include <pqxx/pqxx>

#include "adapters/postgres/session.hpp"
#include "runtime/auth/jwt.hpp"
#include "runtime/time/rfc3339.hpp"
#include "support/herald_api.hpp"
#include "support/herald_process.hpp"
#include "support/notification_db.hpp"
#include "support/test_env.hpp"

using namespace herald::test;
using namespace std::chrono_literals;
namespace htime = herald::time;

namespace {

/// Every role, no rate limit (the many-at-once test sends 200 to one user).
const std::map<std::string, std::string> all_roles{{"HERALD_ROLES", "all"},
                                                   {"HERALD_RATE_LIMIT_PER_USER", "0"}};

std::string login_token(const std::string& user_id) {
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
               .count();
  return herald::auth::jwt::sign({{"sub", user_id}, {"exp", now + 600}, {"iss", "herald"}},
                                 jwt_secret);
}

json email_body(const std::string& user, const std::string& code, const json& extra = {}) {
  json body = {{"notification_type", "email"},
               {"user_id", user},
               {"template_code", code},
               {"variables", {{"name", "Ada"}}}};
  if (extra.is_object()) {
    body.update(extra);
  }
  return body;
}

/// POSTs to `base` and REQUIREs a 202 `scheduled`; answers the data.
json post_scheduled(const std::string& base, const json& body) {
  auto r = http_call("POST", base + "/api/v1/notifications", body.dump());
  BOOST_TEST_CONTEXT("scheduled POST: " << r.raw) {
    BOOST_REQUIRE_EQUAL(r.status, 202);
    BOOST_REQUIRE_EQUAL(r.body["data"]["status"], "scheduled");
  }
  return r.body["data"];
}

htime::instant parse(const std::string& text) {
  auto t = htime::parse_rfc3339(text);
  BOOST_REQUIRE_MESSAGE(t, "not RFC 3339: " << text);
  return *t;
}

/// The time of the timeline's first entry with `status` (REQUIREd).
htime::instant entry_time(const json& timeline, const std::string& status) {
  for (auto& e : timeline) {
    if (e.value("status", "") == status) {
      return parse(e.value("at", ""));
    }
  }
  BOOST_FAIL("no timeline entry " << status << " in " << timeline.dump());
  return {};
}

std::string in_seconds(int s) {
  return htime::format_rfc3339(htime::now() + std::chrono::seconds{s});
}

/// How many times the schedulers published each of `ids` (scheduled_sends.publishes).
std::map<std::string, int> publishes_of(const std::vector<std::string>& ids) {
  std::string array = "{";
  for (auto& id : ids) {
    array += (array.size() > 1 ? "," : "") + id;
  }
  array += "}";
  pqxx::connection c{herald::postgres::database_url(env("HERALD_TEST_PG_URL"), "notification_db")};
  pqxx::work tx{c};
  std::map<std::string, int> out;
  for (const auto& row : tx.exec_params("SELECT notification_id::text, publishes FROM "
                                        "scheduled_sends WHERE notification_id = ANY($1::uuid[])",
                                        array)) {
    out[row[0].c_str()] = row[1].as<int>();
  }
  return out;
}

std::string address() {
  return unique("sched-") + "@example.com";
}

} // namespace

BOOST_AUTO_TEST_SUITE(scheduling)

BOOST_AUTO_TEST_CASE(a_scheduled_send_is_delivered_not_before_send_at_and_within_two_seconds) {
  running_node node{all_roles};
  auto to = address();
  auto user = create_user(node, {{"email", to}});
  auto code = create_email_template(node);
  auto data = post_scheduled(node.url(), email_body(user, code, {{"send_at", in_seconds(3)}}));
  auto id = data["notification_id"].get<std::string>();
  auto send_at = parse(data["send_at"].get<std::string>());
  auto early = notification(node, id);
  BOOST_TEST(early["status"] == "scheduled");
  BOOST_TEST(early["send_at"] == data["send_at"]);
  BOOST_REQUIRE(eventually([&] { return status_of(node, id) == "sent"; }, 20s));
  auto record = notification(node, id);
  auto published = entry_time(record["timeline"], "queued");
  auto sent = entry_time(record["timeline"], "sent");
  auto lateness = std::chrono::duration_cast<std::chrono::milliseconds>(sent - send_at);
  BOOST_TEST_MESSAGE("published " << (published - send_at).count() << " ms after send_at, sent "
                                  << lateness.count() << " ms after it");
  BOOST_TEST((published >= send_at), "published before send_at");
  BOOST_TEST((sent >= send_at), "sent before send_at");
  BOOST_TEST(lateness.count() <= 2000);
  BOOST_TEST(mails_per_notification(to)[id] == 1);
}

BOOST_AUTO_TEST_CASE(two_hundred_sends_scheduled_for_one_moment_on_two_nodes_are_each_delivered_once) {
  // Two nodes with every role on the same servers: two schedulers claim the same due rows
  // at the same moment, two email senders take what they publish. Claims of one row, each
  // followed by the next at once, make a burst of 200 transactions longer than a poll
  // period: both schedulers claim while the other does.
  auto roles = all_roles;
  roles["HERALD_SCHEDULER_BATCH_MAX"] = "1";
  running_node node{roles};
  auto second_roles = roles;
  second_roles["HERALD_HTTP_PORT_BASE"] = env("HERALD_TEST_HTTP_PORT_BASE2");
  second_roles["HERALD_NODE_NAME"] = "test-node-2";
  running_node second{second_roles};
  auto to = address();
  auto user = create_user(node, {{"email", to}});
  auto code = create_email_template(node);
  auto when = in_seconds(8);
  std::vector<std::string> ids;
  for (int i = 0; i < 200; ++i) {
    auto data = post_scheduled(node.url(), email_body(user, code, {{"send_at", when}}));
    ids.push_back(data["notification_id"].get<std::string>());
  }
  BOOST_TEST((parse(when) > htime::now()), "the 200 requests took longer than the lead time");
  BOOST_REQUIRE(eventually(
    [&] {
      std::size_t sent = 0;
      for (auto& [id, status] : read_statuses(ids)) {
        sent += status == "sent";
      }
      return sent == ids.size();
    },
    40s));
  auto mails = mails_per_notification(to);
  std::size_t once = 0;
  for (auto& id : ids) {
    once += mails[id] == 1;
  }
  BOOST_TEST(once == ids.size());
  BOOST_TEST(mails.size() == ids.size());
  // Each claimed and published by exactly one scheduler, once.
  std::size_t published_once = 0;
  for (auto& [id, n] : publishes_of(ids)) {
    published_once += n == 1;
  }
  BOOST_TEST(published_once == ids.size());
  std::map<std::string, int> by_node;
  htime::instant last{};
  for (auto& id : ids) {
    auto timeline = read_notification_row(id).timeline;
    for (auto& e : timeline) {
      if (e.value("status", "") == "queued" && e.value("detail", "").rfind("scheduled send", 0) == 0) {
        by_node[e.value("node", "")] += 1;
      }
    }
    last = std::max(last, entry_time(timeline, "sent"));
  }
  auto last_ms = (last - parse(when)).count();
  BOOST_TEST_MESSAGE("200 due at once: published by " << by_node["test-node"] << " / "
                     << by_node["test-node-2"] << " (node 1 / node 2); the last sent "
                     << last_ms << " ms after send_at");
}

BOOST_AUTO_TEST_CASE(a_cancelled_send_is_never_delivered_and_only_a_scheduled_one_cancels) {
  running_node node{all_roles};
  auto to = address();
  auto user = create_user(node, {{"email", to}});
  auto other = create_user(node, {{"email", address()}});
  auto code = create_email_template(node);
  auto when = in_seconds(3);
  auto cancelled = post_scheduled(node.url(), email_body(user, code, {{"send_at", when}}))
                     ["notification_id"].get<std::string>();
  auto control = post_scheduled(node.url(), email_body(user, code, {{"send_at", when}}))
                   ["notification_id"].get<std::string>();
  auto url = node.url() + "/api/v1/notifications/";
  // Another user's login token may not; the user's own may.
  check_error(http_call("DELETE", url + cancelled, {}, bearer(login_token(other))), 403,
              "own user");
  auto r = http_call("DELETE", url + cancelled, {}, bearer(login_token(user)));
  BOOST_TEST_CONTEXT(r.raw) {
    BOOST_REQUIRE_EQUAL(r.status, 200);
    BOOST_TEST(r.body["data"]["status"] == "cancelled");
    BOOST_TEST(r.body["data"]["timeline"].back()["status"] == "cancelled");
  }
  check_error(http_call("DELETE", url + cancelled), 409, "is cancelled");
  check_error(http_call("DELETE", url + "6f1c7a52-3b1e-4e7a-9c1e-0b5d2a9e4f10"), 404,
              "no notification");
  // The control, due at the same moment, is sent: by then the cancelled one would be too.
  BOOST_REQUIRE(eventually([&] { return status_of(node, control) == "sent"; }, 20s));
  BOOST_TEST(mails_per_notification(to).count(cancelled) == 0);
  BOOST_TEST(status_of(node, cancelled) == "cancelled");
  check_error(http_call("DELETE", url + control), 409, "is sent");
}

BOOST_AUTO_TEST_CASE(a_cancel_waits_for_a_scheduler_that_claimed_the_send_and_then_answers_409) {
  // This test is the scheduler: it claims the row as the scheduler does (FOR UPDATE), and
  // marks it published while the DELETE waits. The node runs no scheduler of its own.
  running_node node{{{"HERALD_ROLES", "gateway,users,templates"}}};
  auto user = create_user(node);
  auto code = create_email_template(node);
  auto id = post_scheduled(node.url(), email_body(user, code, {{"send_at", in_seconds(3600)}}))
              ["notification_id"].get<std::string>();
  pqxx::connection c{herald::postgres::database_url(env("HERALD_TEST_PG_URL"), "notification_db")};
  pqxx::work claim{c};
  claim.exec_params("SELECT 1 FROM scheduled_sends WHERE notification_id = $1::uuid FOR UPDATE", id);
  http_reply reply;
  std::atomic<bool> answered{false};
  std::thread cancel([&] {
    reply = http_call("DELETE", node.url() + "/api/v1/notifications/" + id);
    answered = true;
  });
  // While the claim is held, the cancel waits for it.
  BOOST_TEST(!eventually([&] { return answered.load(); }, 1s), "the cancel did not wait");
  claim.exec_params("UPDATE scheduled_sends SET state = 'published', finished_at = now()"
                    " WHERE notification_id = $1::uuid", id);
  claim.exec_params("UPDATE notifications SET status = 'queued' WHERE id = $1::uuid", id);
  claim.commit();
  cancel.join();
  check_error(reply, 409, "is queued");
  BOOST_TEST(status_of(node, id) == "queued");
}

BOOST_AUTO_TEST_CASE(send_at_must_be_rfc3339_with_an_offset_at_most_30_days_ahead) {
  running_node node{{{"HERALD_ROLES", "gateway,users,templates"}}};
  auto user = create_user(node);
  auto code = create_email_template(node);
  auto url = node.url() + "/api/v1/notifications";
  // Tomorrow without an offset: refused for the missing offset, not for the distance.
  auto no_offset = htime::format_rfc3339(htime::now() + 24h).substr(0, 19);
  for (json bad : {json("next tuesday"), json(no_offset),
                   json(htime::format_rfc3339(htime::now() + 31 * 24h)), json(1767268800),
                   json::array()}) {
    BOOST_TEST_CONTEXT("send_at " << bad.dump()) {
      check_error(http_call("POST", url, email_body(user, code, {{"send_at", bad}}).dump()), 400,
                  "send_at");
    }
  }
  // A time in the past sends at once.
  auto r = http_call("POST", url, email_body(user, code, {{"send_at", "2020-01-01T00:00:00Z"}}).dump());
  BOOST_TEST(r.status == 202);
  BOOST_TEST(r.body["data"]["status"] == "queued");
}

BOOST_AUTO_TEST_CASE(quiet_hours_defer_a_priority_5_send_to_their_end_and_let_priority_9_through) {
  running_node node{all_roles};
  // Quiet from an hour ago to an hour from now (UTC, whole minutes): their end is the
  // next time the clock reads `end`.
  auto minute = std::chrono::floor<std::chrono::minutes>(htime::now());
  auto hhmm = [](htime::instant t) { return htime::format_rfc3339(t).substr(11, 5); };
  auto end = minute + 60min;
  auto to = address();
  auto user = create_user(node, {{"email", to},
                                 {"preferences",
                                  {{"quiet_hours", {{"start", hhmm(minute - 60min)},
                                                    {"end", hhmm(end)},
                                                    {"timezone", "UTC"}}}}}});
  auto code = create_email_template(node);
  auto quiet = post_notification(node, user, code, {{"name", "Ada"}}, {{"priority", 5}});
  auto urgent = post_notification(node, user, code, {{"name", "Ada"}}, {{"priority", 9}});
  BOOST_REQUIRE(eventually([&] { return status_of(node, urgent) == "sent"; }, 20s));
  BOOST_REQUIRE(eventually([&] { return status_of(node, quiet) == "scheduled"; }, 20s));
  auto record = notification(node, quiet);
  auto expected = htime::format_rfc3339(end);
  BOOST_TEST(record["send_at"] == expected);
  auto last = record["timeline"].back();
  BOOST_TEST(last["status"] == "scheduled");
  BOOST_TEST(last["detail"] == "quiet hours until " + expected);
  BOOST_TEST(mails_per_notification(to).count(quiet) == 0);
  BOOST_TEST(mails_per_notification(to)[urgent] == 1);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(scheduling_restart)

BOOST_AUTO_TEST_CASE(a_scheduled_send_survives_a_sigkill_of_herald_and_is_delivered_once) {
  // The front only creates the user and the template: no gateway role, no scheduler.
  running_node front{{{"HERALD_ROLES", "users,templates"}}};
  herald_process herald{{{"HERALD_ROLES", "all"}}};
  auto to = address();
  auto user = create_user(front, {{"email", to}});
  auto code = create_email_template(front);
  auto data = post_scheduled(herald.url(), email_body(user, code, {{"send_at", in_seconds(4)}}));
  auto id = data["notification_id"].get<std::string>();
  herald.kill();
  auto killed_at = htime::now();
  auto send_at = parse(data["send_at"].get<std::string>());
  BOOST_REQUIRE_MESSAGE(killed_at < send_at, "killed only after send_at");
  BOOST_TEST(read_notification_row(id).status == "scheduled");
  herald.start();
  BOOST_REQUIRE(eventually([&] { return read_statuses({id})[id] == "sent"; }, 30s));
  auto sent = entry_time(read_notification_row(id).timeline, "sent");
  BOOST_TEST((sent >= send_at));
  BOOST_TEST(mails_per_notification(to)[id] == 1);
  BOOST_TEST_MESSAGE("restarted in " << herald.last_start().count() << " ms; sent "
                                     << (sent - send_at).count() << " ms after send_at");
}

BOOST_AUTO_TEST_SUITE_END()
