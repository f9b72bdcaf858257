// Idempotent request_ids and read-your-own-write on POST /api/v1/notifications (issue 12):
// the same request_id (body field or Idempotency-Key header) answers the first
// notification with 200 and never delivers twice — also for identical requests at the
// same moment on two gateway nodes, and after Redis forgot the key (notification_db's
// unique request_id is the backstop); the same key with another body is a 409 naming it;
// and a GET right after a 202 finds the notification.

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include <pqxx/pqxx>

#include "actors/messaging/topology.hpp"
#include "adapters/postgres/session.hpp"
#include "adapters/redis/client.hpp"
#include "support/broker.hpp"
#include "support/herald_api.hpp"
#include "support/notification_db.hpp"
#include "support/threads.hpp"

using namespace herald::test;

namespace {

json request(const std::string& user, const std::string& code, const std::string& name,
             const std::string& request_id) {
  json body = {{"notification_type", "email"}, {"user_id", user}, {"template_code", code},
               {"variables", {{"name", name}}}};
  if (!request_id.empty()) {
    body["request_id"] = request_id;
  }
  return body;
}

http_reply post(const running_node& node, const json& body,
                const std::map<std::string, std::string>& headers = {}) {
  return http_call("POST", node.url() + "/api/v1/notifications", body.dump(), headers);
}

std::string id_of(const http_reply& r) {
  return r.body.is_object() && r.body["data"].is_object()
           ? r.body["data"].value("notification_id", "")
           : "";
}

/// How many notification rows hold `request_id` (read straight from notification_db).
int rows_with_request_id(const std::string& request_id) {
  pqxx::connection c{herald::postgres::database_url(env("HERALD_TEST_PG_URL"), "notification_db")};
  pqxx::work tx{c};
  return tx.exec_params("SELECT count(*) FROM notifications WHERE request_id = $1", request_id)[0][0]
    .as<int>();
}

const std::map<std::string, std::string> api_only{{"HERALD_ROLES", "gateway,users,templates"}};

} // namespace

BOOST_AUTO_TEST_SUITE(gateway_idempotency)

BOOST_AUTO_TEST_CASE(the_same_request_id_answers_the_first_notification_with_200) {
  running_node node{api_only};
  auto user = create_user(node);
  auto code = create_email_template(node);
  auto key = unique("order-");
  auto first = post(node, request(user, code, "Ada", key));
  BOOST_REQUIRE_EQUAL(first.status, 202);
  auto again = post(node, request(user, code, "Ada", key));
  BOOST_TEST_CONTEXT("again: " << again.raw) {
    BOOST_CHECK_EQUAL(again.status, 200);
    BOOST_CHECK_EQUAL(id_of(again), id_of(first));
    BOOST_CHECK_EQUAL(again.body["data"]["status"], "queued");
    BOOST_CHECK_EQUAL(again.body["data"]["request_id"], key);
  }
  // The header is the same key: the body without request_id, the key in Idempotency-Key.
  auto by_header = post(node, request(user, code, "Ada", ""), {{"Idempotency-Key", key}});
  BOOST_CHECK_EQUAL(by_header.status, 200);
  BOOST_CHECK_EQUAL(id_of(by_header), id_of(first));
  check_error(post(node, request(user, code, "Ada", key), {{"Idempotency-Key", key + "x"}}), 400,
              "Idempotency-Key");
  // Only one notification has that request_id.
  BOOST_CHECK(read_notification_row(id_of(first)).found);
}

BOOST_AUTO_TEST_CASE(the_same_request_id_with_another_body_is_a_409_naming_the_key) {
  running_node node{api_only};
  auto user = create_user(node);
  auto code = create_email_template(node);
  auto key = unique("changed-");
  BOOST_REQUIRE_EQUAL(post(node, request(user, code, "Ada", key)).status, 202);
  check_error(post(node, request(user, code, "Bob", key)), 409, key);
  // Another credential has request_ids of its own: the same key is a new notification.
  auto created = http_call("POST", node.url() + "/api/v1/api-keys",
                           json{{"name", unique("k-")}, {"scopes", {"notifications:write"}}}.dump());
  BOOST_REQUIRE_EQUAL(created.status, 201);
  auto other = post(node, request(user, code, "Bob", key),
                    bearer(created.body["data"]["key"].get<std::string>()));
  BOOST_CHECK_EQUAL(other.status, 202);
}

BOOST_AUTO_TEST_CASE(a_refused_first_attempt_frees_the_key_for_a_corrected_retry) {
  running_node node{api_only};
  auto user = create_user(node);
  auto code = create_email_template(node);
  auto key = unique("retry-");
  check_error(post(node, request(user, "no-such-template", "Ada", key)), 404, "no-such-template");
  auto fixed = post(node, request(user, code, "Ada", key));
  BOOST_CHECK_EQUAL(fixed.status, 202);
}

BOOST_AUTO_TEST_CASE(a_first_attempt_the_broker_refused_leaves_no_record_and_frees_the_key) {
  using namespace std::chrono_literals;
  broker_client{}.purge(herald::messaging::email_queue);
  drained_at_exit cleanup{herald::messaging::email_queue};
  running_node node{api_only};
  auto user = create_user(node);
  auto code = create_email_template(node);
  std::string key;
  {
    // email.queue refuses every message: the broker nacks each publish. The policy takes
    // a moment to reach the queue, so each try has a key of its own until one is refused.
    broker_policy refuse{"herald-test-refuse", "^email\\.queue$",
                         R"({"max-length":0,"overflow":"reject-publish"})"};
    http_reply refused;
    BOOST_REQUIRE(eventually([&] {
      key = unique("nacked-");
      refused = post(node, request(user, code, "Ada", key));
      return refused.status == 503;
    }, 10s));
    check_error(refused, 503, "nack");
    BOOST_REQUIRE(refuse.clear());
  }
  // Its queued record was written before the publish; the refusal deletes it again.
  BOOST_CHECK(eventually([&] { return rows_with_request_id(key) == 0; }, 5s));
  // And the same key is free at once (not after its pending claim expired): retries
  // while the policy may linger are 503, never 409 "in progress"; then a new
  // notification, recorded and readable.
  http_reply retry;
  int in_progress = 0;
  BOOST_REQUIRE(eventually([&] {
    retry = post(node, request(user, code, "Ada", key));
    in_progress += retry.status == 409;
    return retry.status == 202;
  }, 10s));
  BOOST_CHECK_EQUAL(in_progress, 0);
  BOOST_CHECK_EQUAL(rows_with_request_id(key), 1);
  BOOST_CHECK_EQUAL(http_call("GET", node.url() + "/api/v1/notifications/" + id_of(retry)).status,
                    200);
}

BOOST_AUTO_TEST_CASE(identical_requests_at_the_same_moment_on_two_nodes_give_one_notification_and_one_mail) {
  running_node a; // sends mail too
  auto b_settings = api_only;
  b_settings["HERALD_HTTP_PORT_BASE"] = env("HERALD_TEST_HTTP_PORT_BASE2");
  running_node b{b_settings};
  auto domain = unique("idem") + ".example.com";
  auto user = create_user(a, {{"email", "once@" + domain}});
  auto code = create_email_template(a);
  auto body = request(user, code, "Ada", unique("same-moment-"));
  constexpr int threads = 16;
  std::mutex mtx;
  std::vector<http_reply> answers;
  on_threads(threads, [&](int t) {
    auto& node = t % 2 == 0 ? a : b;
    http_reply r;
    // A request whose twin is still in flight is told so (409, Retry-After); a client
    // retries it, and then gets the twin's notification.
    eventually([&] {
      r = post(node, body);
      return !(r.status == 409 && r.raw.find("in progress") != std::string::npos);
    }, std::chrono::seconds{20});
    std::lock_guard<std::mutex> lock{mtx};
    answers.push_back(r);
  });
  std::set<std::string> ids;
  int created = 0;
  for (auto& r : answers) {
    BOOST_TEST_CONTEXT("answer: " << r.raw) {
      BOOST_CHECK(r.status == 202 || r.status == 200);
      created += r.status == 202;
      ids.insert(id_of(r));
    }
  }
  BOOST_CHECK_EQUAL(created, 1);
  BOOST_REQUIRE_EQUAL(ids.size(), 1u);
  auto id = *ids.begin();
  BOOST_REQUIRE(eventually([&] { return status_of(a, id) == "sent"; }));
  auto mails = mails_per_notification("@" + domain);
  BOOST_CHECK_EQUAL(mails.size(), 1u);
  BOOST_CHECK_EQUAL(mails[id], 1);
}

BOOST_AUTO_TEST_CASE(the_key_survives_a_redis_flushall_through_the_database) {
  running_node node{api_only};
  auto user = create_user(node);
  auto code = create_email_template(node);
  auto key = unique("flushed-");
  auto first = post(node, request(user, code, "Ada", key));
  BOOST_REQUIRE_EQUAL(first.status, 202);
  herald::redis::client redis{env("HERALD_TEST_REDIS_URL")};
  std::string error;
  BOOST_REQUIRE_MESSAGE(redis.pipeline({{"FLUSHALL"}}, &error), error);
  BOOST_REQUIRE(!redis.get("herald:idem:admin:" + key));
  auto again = post(node, request(user, code, "Ada", key));
  BOOST_TEST_CONTEXT("after FLUSHALL: " << again.raw) {
    BOOST_CHECK_EQUAL(again.status, 200);
    BOOST_CHECK_EQUAL(id_of(again), id_of(first));
  }
  // The database has the fingerprint too: another body is still a conflict.
  redis.pipeline({{"FLUSHALL"}}, &error);
  check_error(post(node, request(user, code, "Bob", key)), 409, key);
  // And Redis learnt the key again from the database's answer.
  auto third = post(node, request(user, code, "Ada", key));
  BOOST_CHECK_EQUAL(third.status, 200);
  BOOST_CHECK(redis.get("herald:idem:admin:" + key));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(gateway_read_your_own_write)

BOOST_AUTO_TEST_CASE(every_get_right_after_its_202_answers_200_queued) {
  running_node node{{{"HERALD_ROLES", "gateway,users,templates"},
                     {"HERALD_RATE_LIMIT_PER_USER", "0"}}};
  auto user = create_user(node);
  auto code = create_email_template(node);
  constexpr int threads = 8;
  constexpr int per_thread = 40;
  std::mutex mtx;
  std::vector<std::string> misses;
  int pairs = 0;
  on_threads(threads, [&](int t) {
    for (int k = 0; k < per_thread; ++k) {
      auto r = post(node, request(user, code, "n" + std::to_string(k), ""));
      if (r.status != 202) {
        std::lock_guard<std::mutex> lock{mtx};
        misses.push_back("post " + std::to_string(t) + "/" + std::to_string(k) + ": " + r.raw);
        continue;
      }
      auto g = http_call("GET", node.url() + "/api/v1/notifications/" + id_of(r));
      std::lock_guard<std::mutex> lock{mtx};
      pairs += 1;
      if (g.status != 200 || g.body["data"]["status"] != "queued") {
        misses.push_back("get " + id_of(r) + ": " + std::to_string(g.status) + " " + g.raw);
      }
    }
  });
  BOOST_CHECK_EQUAL(pairs, threads * per_thread);
  BOOST_CHECK_MESSAGE(misses.empty(), misses.size() << " misses, first: "
                                                    << (misses.empty() ? "" : misses.front()));
}

BOOST_AUTO_TEST_SUITE_END()
