// The nesting guard every JSON body passes before it is parsed (actors/common/rest).

#include <boost/test/unit_test.hpp>

#include "actors/common/rest.hpp"

using herald::rest::nested_deeper_than;

namespace {

std::string nested(int depth, const std::string& open = "[", const std::string& close = "]") {
  std::string s;
  for (int i = 0; i < depth; ++i) {
    s += open;
  }
  for (int i = 0; i < depth; ++i) {
    s += close;
  }
  return s;
}

} // namespace

BOOST_AUTO_TEST_SUITE(json_depth)

BOOST_AUTO_TEST_CASE(nesting_up_to_the_limit_passes_and_one_more_level_does_not) {
  BOOST_TEST(!nested_deeper_than(nested(32), 32));
  BOOST_TEST(nested_deeper_than(nested(33), 32));
  BOOST_TEST(!nested_deeper_than(R"({"a": {"b": [1, {"c": []}]}})", 5));
  BOOST_TEST(nested_deeper_than(R"({"a": {"b": [1, {"c": []}]}})", 4));
}

BOOST_AUTO_TEST_CASE(brackets_inside_strings_do_not_count) {
  BOOST_TEST(!nested_deeper_than(R"({"s": "[[[[[[{{{{{{"})", 1));
  BOOST_TEST(!nested_deeper_than(R"({"s": "quote \" then [[[[ and \\"})", 1));
  // After an escaped backslash the string ends: the bracket after it counts.
  BOOST_TEST(nested_deeper_than(R"({"s": "\\", "t": [[]]})", 2));
}

BOOST_AUTO_TEST_CASE(siblings_do_not_add_up) {
  std::string wide = "[";
  for (int i = 0; i < 1000; ++i) {
    wide += (i ? "," : "") + nested(10);
  }
  wide += "]";
  BOOST_TEST(!nested_deeper_than(wide, 11));
  BOOST_TEST(nested_deeper_than(wide, 10));
}

BOOST_AUTO_TEST_CASE(a_body_built_to_exhaust_the_stack_is_refused_without_reading_it_all) {
  BOOST_TEST(nested_deeper_than(nested(100000, "{\"a\":", "}"), 32));
}

BOOST_AUTO_TEST_SUITE_END()
