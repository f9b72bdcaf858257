#include <boost/test/unit_test.hpp>

#include <set>

#include "actors/common/ids.hpp"

BOOST_AUTO_TEST_SUITE(ids)

BOOST_AUTO_TEST_CASE(uuids_are_canonical_version_4_and_distinct) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    auto id = herald::make_uuid();
    BOOST_REQUIRE(herald::is_uuid(id));
    BOOST_CHECK_EQUAL(id[14], '4');
    BOOST_CHECK(std::string{"89ab"}.find(id[19]) != std::string::npos);
    seen.insert(id);
  }
  BOOST_CHECK_EQUAL(seen.size(), 1000u);
}

BOOST_AUTO_TEST_CASE(non_uuids_are_recognised) {
  BOOST_CHECK(!herald::is_uuid("not-a-uuid"));
  BOOST_CHECK(!herald::is_uuid("00000000-0000-4000-8000-00000000000g"));
  BOOST_CHECK(!herald::is_uuid("00000000000040008000000000000000aaaa"));
}

BOOST_AUTO_TEST_SUITE_END()
