// The user store's batch lookup (lookup_many_atom) against real PostgreSQL and Redis: one
// result per id in order, misses read from PostgreSQL in one query and then cached, and
// the generation guard holding for batch fills exactly as for single ones.

#include <boost/test/unit_test.hpp>

#include "actors/common/ids.hpp"
#include "actors/user_lookup/user_cache.hpp"
#include "actors/user_lookup/user_lookup.hpp"
#include "runtime/registry/registry.hpp"
#include "runtime/system_config.hpp"
#include "support/test_env.hpp"

using namespace herald;
using namespace herald::test;

namespace {

/// A user store pool in its own actor system, and a scoped actor to ask it.
struct store_fixture {
  config::settings settings = node_settings();
  runtime::system_config cfg{settings};
  caf::actor_system sys{cfg};
  runtime::registry registry;
  node_context ctx{sys, settings, registry, std::make_shared<runtime::change_feed>()};
  runtime::supervised_pool users = spawn_user_lookup(ctx);
  caf::scoped_actor self{sys};

  ~store_fixture() { caf::anon_send_exit(users.supervisor, caf::exit_reason::user_shutdown); }

  std::string create(const std::string& email, bool email_on = true) {
    user_profile p;
    p.user.id = make_uuid();
    p.user.email = email;
    p.user.name = "Many";
    p.user.email_enabled = email_on;
    outcome result;
    self->request(users.pool, std::chrono::seconds{5}, create_atom::value, p, std::string{})
      .receive([&](outcome& o, user_profile&) { result = o; },
               [&](caf::error& e) { result = {503, sys.render(e)}; });
    BOOST_REQUIRE_EQUAL(result.status, 201);
    return p.user.id;
  }

  std::vector<user_lookup_result> lookup_many(const std::vector<std::string>& ids) {
    std::vector<user_lookup_result> out;
    self->request(users.pool, std::chrono::seconds{5}, lookup_many_atom::value, ids)
      .receive([&](std::vector<user_lookup_result>& r) { out = std::move(r); },
               [&](caf::error& e) { BOOST_FAIL(sys.render(e)); });
    return out;
  }

  std::uint64_t total(const std::string& counter) {
    std::uint64_t n = 0;
    for (int i = 0; i < 2; ++i) {
      if (auto e = registry.find("user_lookup/" + std::to_string(i))) {
        n += e->counters()[counter];
      }
    }
    return n;
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(user_lookup_many, store_fixture)

BOOST_AUTO_TEST_CASE(a_batch_is_answered_per_id_in_order_and_its_misses_are_cached) {
  auto a_email = unique("many-a-") + "@example.com";
  auto a = create(a_email);
  auto b = create(unique("many-b-") + "@example.com", false);
  auto unknown = make_uuid();
  auto found = lookup_many({a, unknown, b, "not-a-uuid", a});
  BOOST_REQUIRE_EQUAL(found.size(), 5u);
  BOOST_CHECK_EQUAL(found[0].result.status, 200);
  BOOST_CHECK_EQUAL(found[0].user.id, a);
  BOOST_CHECK_EQUAL(found[0].user.email, a_email);
  BOOST_CHECK_EQUAL(found[1].result.status, 404);
  BOOST_CHECK_EQUAL(found[2].result.status, 200);
  BOOST_CHECK_EQUAL(found[2].user.id, b);
  BOOST_CHECK(!found[2].user.email_enabled);
  BOOST_CHECK_EQUAL(found[3].result.status, 404);
  BOOST_CHECK_EQUAL(found[4].user.id, a);

  auto queries = total("pg_queries");
  auto hits = total("cache_hits");
  auto again = lookup_many({b, a});
  BOOST_CHECK_EQUAL(again[0].user.id, b);
  BOOST_CHECK_EQUAL(again[1].user.id, a);
  BOOST_CHECK_EQUAL(total("pg_queries"), queries); // both from Redis now
  BOOST_CHECK_EQUAL(total("cache_hits"), hits + 2);
}

BOOST_AUTO_TEST_CASE(a_batch_fill_based_on_a_read_from_before_a_change_is_refused_for_that_user) {
  user_cache cache{env("HERALD_TEST_REDIS_URL"), std::chrono::seconds{60}};
  auto changed = make_uuid();
  auto untouched = make_uuid();
  auto probes = cache.read_many({changed, untouched});
  BOOST_REQUIRE_EQUAL(probes.size(), 2u);
  BOOST_REQUIRE(probes[0].available && probes[1].available);
  std::string error;
  // While the batch queries PostgreSQL, one of its users changes.
  BOOST_REQUIRE(cache.invalidate(changed, error));
  auto stored = cache.fill_many({{changed, probes[0].generation, "{\"stale\": true}"},
                                 {untouched, probes[1].generation, "{\"fresh\": true}"}},
                                error);
  BOOST_REQUIRE(stored);
  BOOST_CHECK_EQUAL(*stored, 1u);
  BOOST_CHECK(!cache.read(changed).value);
  BOOST_CHECK((cache.read(untouched).value == std::optional<std::string>{"{\"fresh\": true}"}));
}

BOOST_AUTO_TEST_CASE(a_changed_user_is_read_fresh_by_the_next_batch) {
  auto id = create(unique("many-change-") + "@example.com");
  BOOST_REQUIRE_EQUAL(lookup_many({id})[0].result.status, 200); // now cached
  user_change c;
  c.id = id;
  c.email = unique("many-moved-") + "@example.com";
  outcome result;
  self->request(users.pool, std::chrono::seconds{5}, update_atom::value, c)
    .receive([&](outcome& o, user_profile&) { result = o; },
             [&](caf::error& e) { result = {503, sys.render(e)}; });
  BOOST_REQUIRE_EQUAL(result.status, 200);
  BOOST_CHECK_EQUAL(lookup_many({id})[0].user.email, *c.email);
}

BOOST_AUTO_TEST_SUITE_END()
