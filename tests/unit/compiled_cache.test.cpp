#include <boost/test/unit_test.hpp>

#include "actors/template_cache/compiled_cache.hpp"

using namespace herald;

namespace {

std::shared_ptr<const compiled_template> version_of(std::size_t body_bytes) {
  template_record t;
  t.template_code = "t";
  t.channel = "email";
  t.subject = "Hi {{name}}";
  t.body = std::string(body_bytes, 'x') + "{{name}}";
  return std::make_shared<const compiled_template>(t);
}

} // namespace

BOOST_AUTO_TEST_SUITE(compiled_cache_bounds)

BOOST_AUTO_TEST_CASE(the_cache_stays_under_its_byte_bound_dropping_the_least_recently_used) {
  auto one = version_of(10000);
  const auto bound = 10 * one->bytes();
  compiled_cache cache{1000, bound};
  for (int i = 0; i < 100; ++i) {
    cache.put("v" + std::to_string(i), version_of(10000));
    BOOST_TEST_REQUIRE(cache.bytes() <= bound);
    if (i % 2 == 1) {
      BOOST_TEST_REQUIRE(cache.find("v0") != nullptr); // kept in use: never the oldest
    }
  }
  BOOST_TEST(cache.size() == 10u);
  BOOST_TEST(cache.find("v0") != nullptr);
  BOOST_TEST(cache.find("v99") != nullptr);
  BOOST_TEST(cache.find("v90") == nullptr); // the least recently used went first
  BOOST_TEST(cache.find("v91") != nullptr);
}

BOOST_AUTO_TEST_CASE(the_count_bound_holds_too_and_a_version_larger_than_the_bound_is_not_kept) {
  compiled_cache cache{3, 1 << 20};
  for (int i = 0; i < 5; ++i) {
    cache.put("v" + std::to_string(i), version_of(10));
  }
  BOOST_TEST(cache.size() == 3u);
  BOOST_TEST(cache.find("v1") == nullptr);
  cache.put("huge", version_of(2 << 20));
  BOOST_TEST(cache.find("huge") == nullptr);
  BOOST_TEST(cache.size() == 3u);
  cache.put("v4", version_of(1000)); // replacing an entry counts its bytes once
  BOOST_TEST(cache.size() == 3u);
  BOOST_TEST(cache.bytes() < (1u << 20));
}

BOOST_AUTO_TEST_SUITE_END()
