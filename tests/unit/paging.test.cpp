// ?page=&limit= and the list meta, as every list endpoint reads and answers them
// (actors/common/rest.hpp).

#include <boost/test/unit_test.hpp>

#include "actors/common/rest.hpp"

using herald::rest::page_meta;
using herald::rest::parse_page;

BOOST_AUTO_TEST_SUITE(paging)

BOOST_AUTO_TEST_CASE(pages_default_to_1_and_20_and_take_their_bounds) {
  std::string error;
  auto p = parse_page({}, error);
  BOOST_TEST_REQUIRE(p.has_value());
  BOOST_TEST(p->page == 1);
  BOOST_TEST(p->limit == 20);
  p = parse_page({{"page", "3"}, {"limit", "100"}}, error);
  BOOST_TEST_REQUIRE(p.has_value());
  BOOST_TEST(p->page == 3);
  BOOST_TEST(p->limit == 100);
}

BOOST_AUTO_TEST_CASE(a_bad_page_or_limit_is_named) {
  for (auto [key, value] : {std::pair{"page", "0"}, {"page", "-1"}, {"page", "two"}, {"page", ""},
                            {"page", "1000000001"}, {"limit", "101"}, {"limit", "0"},
                            {"limit", "5x"}, {"limit", "-1"}}) {
    std::string error;
    BOOST_TEST(!parse_page({{key, value}}, error), key << "=" << value);
    BOOST_TEST(error.find(std::string{"'"} + key + "'") != std::string::npos, error);
  }
}

BOOST_AUTO_TEST_CASE(page_meta_counts_pages_and_neighbours) {
  auto meta = page_meta(45, 2, 20);
  BOOST_CHECK_EQUAL(meta["total"], 45);
  BOOST_CHECK_EQUAL(meta["total_pages"], 3);
  BOOST_CHECK_EQUAL(meta["has_next"], true);
  BOOST_CHECK_EQUAL(meta["has_previous"], true);
  auto empty = page_meta(0, 1, 20);
  BOOST_CHECK_EQUAL(empty["total_pages"], 0);
  BOOST_CHECK_EQUAL(empty["has_next"], false);
  BOOST_CHECK_EQUAL(empty["has_previous"], false);
}

BOOST_AUTO_TEST_SUITE_END()
