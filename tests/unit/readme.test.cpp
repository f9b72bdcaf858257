#include <boost/test/unit_test.hpp>

#include <fstream>
#include <sstream>

#include "runtime/config/settings.hpp"

BOOST_AUTO_TEST_SUITE(readme)

BOOST_AUTO_TEST_CASE(configuration_table_matches_the_declared_options) {
  std::ifstream in{std::string{HERALD_SOURCE_DIR} + "/README.md"};
  BOOST_REQUIRE(in);
  std::stringstream text;
  text << in.rdbuf();
  BOOST_CHECK_MESSAGE(text.str().find(herald::config::options_markdown()) != std::string::npos,
                      "README.md's configuration table is out of date: paste `herald options`");
}

BOOST_AUTO_TEST_SUITE_END()
