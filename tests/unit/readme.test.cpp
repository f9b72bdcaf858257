#include <boost/test/unit_test.hpp>

#include <fstream>
#include <sstream>

#include "actors/node/node.hpp"
#include "runtime/config/settings.hpp"

namespace {

std::string readme_text() {
  std::ifstream in{std::string{HERALD_SOURCE_DIR} + "/README.md"};
  BOOST_REQUIRE(in);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

} // namespace

BOOST_AUTO_TEST_SUITE(readme)

BOOST_AUTO_TEST_CASE(configuration_table_matches_the_declared_options) {
  BOOST_CHECK_MESSAGE(readme_text().find(herald::config::options_markdown()) != std::string::npos,
                      "README.md's configuration table is out of date: paste `herald options`");
}

BOOST_AUTO_TEST_CASE(route_table_matches_the_routes_credentials) {
  BOOST_CHECK_MESSAGE(readme_text().find(herald::access::markdown(herald::route_rules()))
                        != std::string::npos,
                      "README.md's route table is out of date: paste `herald routes`");
}

BOOST_AUTO_TEST_SUITE_END()
