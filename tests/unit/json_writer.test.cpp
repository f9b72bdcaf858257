#include <boost/test/unit_test.hpp>

#include "actors/common/json_writer.hpp"

using herald::json_writer;
using json = nlohmann::json;

BOOST_AUTO_TEST_SUITE(json_writer_suite)

BOOST_AUTO_TEST_CASE(writes_what_nlohmann_reads_back_field_by_field) {
  json nested = {{"a", {1, 2}}, {"b", "x\"y"}};
  auto text = json_writer{}
                .field("s", "queued")
                .field("t", std::string{"two"})
                .field("n", 42LL)
                .field("yes", true)
                .null_field("none")
                .field("tree", nested)
                .raw_field("raw", R"({"k":1})")
                .finish();
  auto j = json::parse(text);
  BOOST_CHECK_EQUAL(j["s"], "queued"); // a literal is a string, not a bool
  BOOST_CHECK_EQUAL(j["t"], "two");
  BOOST_CHECK_EQUAL(j["n"], 42);
  BOOST_CHECK_EQUAL(j["yes"], true);
  BOOST_CHECK(j["none"].is_null());
  BOOST_CHECK_EQUAL(j["tree"], nested);
  BOOST_CHECK_EQUAL(j["raw"]["k"], 1);
}

BOOST_AUTO_TEST_CASE(strings_are_escaped_so_any_input_round_trips) {
  std::string nasty = "quote\" backslash\\ newline\n cr\r tab\t bell\x07 nul";
  nasty += '\0';
  nasty += " utf8 \xc3\xa9\xe2\x82\xac";
  auto j = json::parse(json_writer{}.field("v", std::string_view{nasty}).finish());
  BOOST_CHECK_EQUAL(j["v"].get<std::string>(), nasty);
}

BOOST_AUTO_TEST_CASE(an_empty_object_is_braces) {
  BOOST_CHECK_EQUAL(json_writer{}.finish(), "{}");
}

BOOST_AUTO_TEST_SUITE_END()
