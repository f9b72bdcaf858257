#include "runtime/registry/registry.hpp"

#include <boost/test/unit_test.hpp>

using herald::runtime::registry;

BOOST_AUTO_TEST_SUITE(registry_counters)

BOOST_AUTO_TEST_CASE(named_counters_start_at_zero_and_show_in_the_snapshot) {
  registry reg;
  auto entry = reg.enlist("user_lookup/0", "users", "worker");
  auto& hits = entry->counter("cache_hits");
  hits += 2;
  entry->counter("cache_hits") += 1;
  entry->counter("pg_queries");
  auto j = entry->to_json();
  BOOST_TEST(j["counters"]["cache_hits"] == 3u);
  BOOST_TEST(j["counters"]["pg_queries"] == 0u);
  BOOST_TEST(&hits == &entry->counter("cache_hits"));
  BOOST_TEST(reg.snapshot()[0]["counters"]["cache_hits"] == 3u);
}

BOOST_AUTO_TEST_CASE(an_entry_without_named_counters_shows_an_empty_object) {
  registry reg;
  auto j = reg.enlist("gateway", "gateway", "thread")->to_json();
  BOOST_TEST(j["counters"].is_object());
  BOOST_TEST(j["counters"].empty());
}

BOOST_AUTO_TEST_SUITE_END()
