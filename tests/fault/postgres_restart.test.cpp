// A PostgreSQL restart under a running node: every connection the node kept is dead
// afterwards without the node knowing. Once /health/ready says 200, the very first read on
// each kept connection (a notification's status, a user profile that is not in Redis, a
// template's versions) answers 200 — the stale connection is replaced on the spot, not
// reported as a 503 that the caller would have to retry (postgres_restart).
//
// PostgreSQL restarted in the middle of a stream of notifications (postgres_restart_stream,
// issue 10, fault 4): nothing accepted is lost — the status writes that failed while it
// restarted are written once it is back, the messages whose status could not be written
// are requeued, not acked — and no mail goes out twice. Prints its accounting.

#include <boost/test/unit_test.hpp>

#include "support/herald_api.hpp"
#include "support/stream.hpp"

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

BOOST_AUTO_TEST_SUITE(postgres_restart_stream)

BOOST_AUTO_TEST_CASE(postgres_restarted_mid_stream_loses_nothing) {
  using namespace std::chrono_literals;
  running_node node;
  auto domain = unique("pgrs") + ".example.com";
  auto code = create_email_template(node);
  auto users = make_users(node, domain, 20);

  constexpr int total = 1200;
  poster stream{node, users, code, total, 10ms}; // about 12 s of posts
  BOOST_REQUIRE(eventually([&] { return actor_counter(node, "email_sender", "sent") >= 300; }));
  auto accepted_at_stop = stream.accepted_count();
  auto started = std::chrono::steady_clock::now();
  {
    stopped_server postgres{"postgres"};
    // Started again once the stream's status writes met the outage.
    BOOST_CHECK(eventually(
      [&] { return registry_entry(node, "status_writer/0").value("state", "") == "waiting for database"; },
      10s));
    BOOST_REQUIRE(postgres.start());
  }
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
    std::chrono::steady_clock::now() - started);
  BOOST_TEST_MESSAGE("PostgreSQL stopped and started again in " << took.count() << " ms, after "
                                                << accepted_at_stop << " accepted");
  BOOST_REQUIRE(eventually([&] { return stream.done(); }, 40s));
  auto ids = stream.accepted();
  auto refused = stream.refused();
  BOOST_TEST_MESSAGE("accepted " << ids.size() << ", refused " << refused.size());
  // The gateway checks requests against node-local copies of users and templates; a
  // request that needed PostgreSQL while it restarted may be a 503, never anything else.
  for (auto& r : refused) {
    BOOST_TEST_CONTEXT("refused: " << r.substr(0, 300)) {
      BOOST_CHECK_EQUAL(r.rfind("503 ", 0), 0u);
    }
  }
  BOOST_CHECK_GE(ids.size(), 1000u);
  BOOST_CHECK_GT(ids.size(), accepted_at_stop + 500); // the stream went on after the restart

  BOOST_CHECK(eventually([&] { return all_final(ids); }, 40s));
  auto mailed = mails_per_notification("@" + domain);
  auto a = account("postgres_restart_stream", ids, mailed);
  BOOST_CHECK_EQUAL(a.sent, ids.size());
  BOOST_CHECK_EQUAL(a.lost, 0u);
  BOOST_CHECK_EQUAL(mailed.size(), ids.size());
  // The node lives on: a `sent` that could not be written is kept and written later, so its
  // message's redelivery is acked without sending (email_sender.hpp, Guarantees).
  BOOST_CHECK_EQUAL(a.duplicates, 0);
  BOOST_TEST_MESSAGE("requeued " << actor_counter(node, "email_sender", "requeued")
                                 << ", redeliveries acked without sending "
                                 << actor_counter(node, "email_sender", "duplicates"));
}

BOOST_AUTO_TEST_SUITE_END()
