// A PostgreSQL restart under a running node: every connection the node kept is dead
// afterwards without the node knowing. Once /health/ready says 200, the very first read on
// each kept connection (a notification's status, a user profile that is not in Redis, a
// template's versions) answers 200 — the stale connection is replaced on the spot, not
// reported as a 503 that the caller would have to retry.

#include <boost/test/unit_test.hpp>

#include "support/herald_api.hpp"

using namespace herald::test;

namespace {

/// Every pool of PostgreSQL workers has this many, each with its own kept connection;
/// requests go round-robin, so `pool_size` calls in a row reach every worker once.
constexpr int pool_size = 2;

bool ready(const running_node& node, int port_offset) {
  return http_call("GET", node.url(port_offset) + "/health/ready").status == 200;
}

} // namespace

BOOST_AUTO_TEST_SUITE(postgres_restart)

BOOST_AUTO_TEST_CASE(the_first_reads_after_a_restart_answer_200_not_503) {
  running_node node{{{"HERALD_PG_POOL_SIZE", std::to_string(pool_size)}}};
  auto code = create_email_template(node);
  auto sender = create_user(node);
  auto id = post_notification(node, sender, code, {{"name", "Restart"}});
  BOOST_REQUIRE(eventually([&] { return status_of(node, id) == "sent"; }));

  // Users created now and never read: their first GET misses Redis and reaches PostgreSQL.
  std::vector<std::string> unread_users;
  std::vector<std::string> unread_emails;
  for (int i = 0; i < 2 * pool_size; ++i) {
    unread_emails.push_back(unique("restart-") + "@example.com");
    unread_users.push_back(create_user(node, {{"email", unread_emails.back()}}));
  }
  // Warm every worker's connection: reads of each kind, twice round the pool.
  for (int i = 0; i < 2 * pool_size; ++i) {
    BOOST_REQUIRE_EQUAL(http_call("GET", node.url() + "/api/v1/notifications/" + id).status, 200);
    BOOST_REQUIRE_EQUAL(http_call("GET", node.url(1) + "/api/v1/users/" + sender).status, 200);
    BOOST_REQUIRE_EQUAL(
      http_call("GET", node.url(2) + "/api/v1/templates/" + code + "/versions").status, 200);
  }
  auto pg_queries = [&] {
    std::uint64_t sum = 0;
    for (int i = 0; i < pool_size; ++i) {
      sum += actor_counter(node, "user_lookup/" + std::to_string(i), "pg_queries");
    }
    return sum;
  };

  {
    stopped_server postgres{"postgres"};
    BOOST_REQUIRE(postgres.start());
  }
  BOOST_REQUIRE(eventually([&] { return ready(node, 0) && ready(node, 1) && ready(node, 2); }));

  // Twice round each pool: the first call on every worker meets its dead connection.
  auto queries_before = pg_queries();
  for (int i = 0; i < 2 * pool_size; ++i) {
    BOOST_TEST_CONTEXT("read " << i << " after the restart") {
      auto n = http_call("GET", node.url() + "/api/v1/notifications/" + id);
      BOOST_TEST_CONTEXT("notification: " << n.raw) {
        BOOST_CHECK_EQUAL(n.status, 200);
        BOOST_CHECK_EQUAL(n.body["data"]["status"], "sent");
      }
      auto u = http_call("GET", node.url(1) + "/api/v1/users/" + unread_users[i]);
      BOOST_TEST_CONTEXT("user: " << u.raw) {
        BOOST_CHECK_EQUAL(u.status, 200);
        BOOST_CHECK_EQUAL(u.body["data"]["email"], unread_emails[i]);
      }
      auto v = http_call("GET", node.url(2) + "/api/v1/templates/" + code + "/versions");
      BOOST_TEST_CONTEXT("template versions: " << v.raw) {
        BOOST_CHECK_EQUAL(v.status, 200);
        BOOST_CHECK_EQUAL(v.body["meta"]["total"], 1);
      }
    }
  }
  // The users came from PostgreSQL, not from a cache.
  BOOST_CHECK_GE(pg_queries() - queries_before, static_cast<std::uint64_t>(2 * pool_size));
}

BOOST_AUTO_TEST_SUITE_END()
