// Redis stopped for 10 s in the middle of a stream of notifications: Redis holds only
// caches (DESIGN.md, Data ownership), so the gateway keeps accepting, the workers keep
// delivering from PostgreSQL, and every accepted notification is sent exactly once.
// Prints its accounting: accepted, sent, skipped, dead, duplicates at the sink, lost.

#include <boost/test/unit_test.hpp>

#include <chrono>

#include "support/herald_api.hpp"
#include "support/stream.hpp"

using namespace herald::test;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_SUITE(redis_outage)

BOOST_AUTO_TEST_CASE(deliveries_go_on_while_redis_is_down_and_nothing_is_lost) {
  running_node node;
  auto domain = unique("rds") + ".example.com";
  auto code = create_email_template(node);
  auto users = make_users(node, domain, 20);

  constexpr int total = 1200;
  poster stream{node, users, code, total, 12ms}; // about 15 s of posts
  BOOST_REQUIRE(eventually([&] { return actor_counter(node, "email_sender", "sent") >= 100; }));
  std::size_t sent_while_down = 0;
  {
    stopped_server redis{"redis"};
    auto sent_at_stop = actor_counter(node, "email_sender", "sent");
    auto accepted_at_stop = stream.accepted_count();
    // Deliveries and acceptances go on without Redis: wait for 300 more of each.
    BOOST_CHECK(eventually([&] { return stream.accepted_count() >= accepted_at_stop + 300; }, 15s));
    BOOST_CHECK(eventually(
      [&] { return actor_counter(node, "email_sender", "sent") >= sent_at_stop + 300; }, 15s));
    sent_while_down = actor_counter(node, "email_sender", "sent") - sent_at_stop;
  }
  BOOST_REQUIRE(eventually([&] { return stream.done(); }, 40s));
  auto ids = stream.accepted();
  BOOST_TEST_MESSAGE("sent while Redis was down " << sent_while_down << "; refused "
                                                  << stream.refused().size());
  BOOST_CHECK_EQUAL(stream.refused().size(), 0u); // no POST failed for want of a cache
  BOOST_REQUIRE(eventually([&] { return all_final(ids); }, 40s));
  auto mailed = mails_per_notification("@" + domain);
  auto a = account("redis_outage", ids, mailed);
  BOOST_CHECK_EQUAL(a.accepted, static_cast<std::size_t>(total));
  BOOST_CHECK_EQUAL(a.sent, ids.size());
  BOOST_CHECK_EQUAL(a.lost, 0u);
  BOOST_CHECK_EQUAL(a.duplicates, 0);
  BOOST_CHECK_EQUAL(mailed.size(), ids.size());
}

BOOST_AUTO_TEST_SUITE_END()
