// Rate limits on POST /api/v1/notifications (issue 12): fixed windows counted in Redis, so
// every gateway node shares them; past a limit a 429 in the envelope naming the limit,
// with Retry-After; the X-RateLimit-* headers on every answer after the check; and with
// Redis down, no limit at all (fail open), counted.

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cctype>

#include "support/herald_api.hpp"

using namespace herald::test;

namespace {

/// A header of the reply, whatever its case ("" when absent).
std::string header(const http_reply& r, const std::string& name) {
  auto lower = [](std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    return s;
  };
  for (auto& [k, v] : r.headers) {
    if (lower(k) == lower(name)) {
      return v;
    }
  }
  return {};
}

/// Gateway, users and templates only: nothing is sent, the notifications stay queued.
std::map<std::string, std::string> with_limits(const std::string& per_user,
                                               const std::string& per_client = "0") {
  return {{"HERALD_ROLES", "gateway,users,templates"},
          {"HERALD_RATE_LIMIT_PER_USER", per_user},
          {"HERALD_RATE_LIMIT_PER_CLIENT", per_client}};
}

http_reply notify(const running_node& node, const std::string& user, const std::string& code,
                  const std::map<std::string, std::string>& headers = {}) {
  json body = {{"notification_type", "email"}, {"user_id", user}, {"template_code", code},
               {"variables", {{"name", "Ada"}}}};
  return http_call("POST", node.url() + "/api/v1/notifications", body.dump(), headers);
}

/// Posts until the first 429 (at most `tries`); every reply in order.
std::vector<http_reply> post_until_limited(const std::function<http_reply()>& post, int tries) {
  std::vector<http_reply> replies;
  for (int i = 0; i < tries; ++i) {
    replies.push_back(post());
    if (replies.back().status != 202) {
      break;
    }
  }
  return replies;
}

} // namespace

BOOST_AUTO_TEST_SUITE(gateway_limits)

BOOST_AUTO_TEST_CASE(a_user_past_its_limit_gets_429_with_retry_after_and_is_accepted_after_the_reset) {
  running_node node{with_limits("5/s")};
  auto user = create_user(node);
  auto code = create_email_template(node);
  // The window is a second: on a slow machine it may end during the burst and start
  // again, so post until the first 429 rather than counting exactly five.
  auto replies = post_until_limited([&] { return notify(node, user, code); }, 60);
  BOOST_REQUIRE_GE(replies.size(), 6u);
  auto& limited = replies.back();
  check_error(limited, 429, "rate_limit.per_user");
  BOOST_CHECK_EQUAL(header(limited, "Retry-After"), "1");
  BOOST_CHECK_EQUAL(header(limited, "X-RateLimit-Limit"), "5");
  BOOST_CHECK_EQUAL(header(limited, "X-RateLimit-Remaining"), "0");
  BOOST_CHECK_EQUAL(header(limited, "X-RateLimit-Reset"), "1");
  // The accepted ones counted down to the last allowed in the window.
  auto& last = replies[replies.size() - 2];
  BOOST_CHECK_EQUAL(last.status, 202);
  BOOST_CHECK_EQUAL(header(last, "X-RateLimit-Limit"), "5");
  BOOST_CHECK_EQUAL(header(last, "X-RateLimit-Remaining"), "0");
  BOOST_CHECK_EQUAL(header(replies.front(), "X-RateLimit-Remaining"), "4");
  // Refused requests do not count: once the window is over, the user is served again.
  http_reply again;
  BOOST_CHECK_MESSAGE(eventually([&] {
                        again = notify(node, user, code);
                        return again.status == 202;
                      },
                      std::chrono::seconds{5}),
                      "still refused after the window: " << again.raw);
  BOOST_CHECK_EQUAL(header(again, "X-RateLimit-Remaining"), "4");
  // Another user has a window of its own.
  auto other = create_user(node);
  BOOST_CHECK_EQUAL(notify(node, other, code).status, 202);
}

BOOST_AUTO_TEST_CASE(a_credential_past_its_limit_gets_429_naming_the_client_limit) {
  running_node node{with_limits("0", "4/min")};
  auto code = create_email_template(node);
  std::vector<std::string> users;
  for (int i = 0; i < 5; ++i) {
    users.push_back(create_user(node));
  }
  for (int i = 0; i < 4; ++i) {
    auto r = notify(node, users[static_cast<std::size_t>(i)], code);
    BOOST_CHECK_EQUAL(r.status, 202);
    BOOST_CHECK_EQUAL(header(r, "X-RateLimit-Remaining"), std::to_string(3 - i));
  }
  auto limited = notify(node, users[4], code);
  check_error(limited, 429, "rate_limit.per_client");
  auto wait = std::stoi(header(limited, "Retry-After"));
  BOOST_CHECK_GE(wait, 1);
  BOOST_CHECK_LE(wait, 60);
}

BOOST_AUTO_TEST_CASE(two_gateway_nodes_share_one_limit) {
  running_node a{with_limits("5/min")};
  auto b_settings = with_limits("5/min");
  b_settings["HERALD_HTTP_PORT_BASE"] = env("HERALD_TEST_HTTP_PORT_BASE2");
  running_node b{b_settings};
  auto user = create_user(a);
  auto code = create_email_template(a);
  int accepted = 0;
  for (int i = 0; i < 3; ++i) {
    accepted += notify(a, user, code).status == 202;
  }
  for (int i = 0; i < 2; ++i) {
    auto r = notify(b, user, code);
    accepted += r.status == 202;
    BOOST_CHECK_EQUAL(header(r, "X-RateLimit-Remaining"), std::to_string(1 - i));
  }
  BOOST_CHECK_EQUAL(accepted, 5);
  check_error(notify(b, user, code), 429, "rate_limit.per_user");
  check_error(notify(a, user, code), 429, "rate_limit.per_user");
}

// One admission script judges a bulk request's items one by one: each admitted item
// counts against its user's and the credential's window (read once and incremented once
// per window inside the script), so the limits hold item by item, and the counts stay for
// the requests after it.
BOOST_AUTO_TEST_CASE(a_bulk_request_counts_each_item_against_its_windows) {
  running_node node{with_limits("3/min", "7/min")};
  auto ada = create_user(node);
  auto bob = create_user(node);
  auto code = create_email_template(node);
  // A credential of its own: the admin token's window holds the other cases' requests.
  auto created = http_call("POST", node.url() + "/api/v1/api-keys",
                           json{{"name", unique("k-")}, {"scopes", {"notifications:write"}}}.dump());
  BOOST_REQUIRE_EQUAL(created.status, 201);
  auto key = bearer(created.body["data"]["key"].get<std::string>());
  json items = json::array();
  for (int i = 0; i < 8; ++i) {
    items.push_back({{"notification_type", "email"}, {"user_id", i % 2 == 0 ? ada : bob},
                     {"template_code", code}, {"variables", {{"name", "Ada"}}}});
  }
  auto r = http_call("POST", node.url() + "/api/v1/notifications/bulk",
                     json{{"notifications", items}}.dump(), key);
  BOOST_TEST_CONTEXT(r.raw) {
    BOOST_REQUIRE_EQUAL(r.status, 207);
    // Three each for ada (0, 2, 4) and bob (1, 3, 5); the fourth of each is past 3/min.
    auto& answered = r.body["data"]["items"];
    BOOST_REQUIRE_EQUAL(answered.size(), 8u);
    for (int i = 0; i < 8; ++i) {
      BOOST_TEST_CONTEXT("item " << i) {
        if (i < 6) {
          BOOST_CHECK_EQUAL(answered[i]["status"], "queued");
        } else {
          BOOST_CHECK_EQUAL(answered[i]["code"], 429);
          BOOST_CHECK(answered[i]["error"].get<std::string>().find("rate_limit.per_user")
                      != std::string::npos);
        }
      }
    }
    BOOST_CHECK_EQUAL(r.body["data"]["accepted"], 6);
  }
  // The credential's window counted the six: one more is admitted (a new user), then 429.
  auto carol = create_user(node);
  BOOST_CHECK_EQUAL(notify(node, carol, code, key).status, 202);
  check_error(notify(node, carol, code, key), 429, "rate_limit.per_client");
}

BOOST_AUTO_TEST_CASE(with_redis_stopped_posts_are_accepted_without_limits_and_counted) {
  running_node node{with_limits("3/min")};
  auto user = create_user(node);
  auto code = create_email_template(node);
  auto before = actor_counter(node, "admission", "fail_open");
  {
    stopped_server redis{"redis"};
    for (int i = 0; i < 6; ++i) { // twice the limit
      auto r = notify(node, user, code);
      BOOST_TEST_CONTEXT("post " << i << " while Redis is down: " << r.raw) {
        BOOST_CHECK_EQUAL(r.status, 202);
        BOOST_CHECK_EQUAL(header(r, "X-RateLimit-Limit"), "");
      }
    }
    BOOST_CHECK_GE(actor_counter(node, "admission", "fail_open"), before + 6);
    BOOST_REQUIRE(redis.start());
  }
  // Back: limited again (a restarted Redis starts with empty windows).
  http_reply r;
  BOOST_CHECK(eventually([&] {
    r = notify(node, user, code);
    return !header(r, "X-RateLimit-Limit").empty();
  }, std::chrono::seconds{10}));
  BOOST_CHECK_EQUAL(r.status, 202);
}

BOOST_AUTO_TEST_SUITE_END()
