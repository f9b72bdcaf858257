// PostgreSQL (user_db, where API keys live) stopped: keys a node has loaded keep working
// from its copy; a node that never loaded them answers a key with 503 ("cannot be checked",
// not 401), names api_keys in readiness, still takes the admin token, and takes the key
// once PostgreSQL is back, without a restart.

#include <boost/test/unit_test.hpp>

#include "support/herald_api.hpp"

using namespace herald::test;

namespace {

const std::map<std::string, std::string> api_roles{{"HERALD_ROLES", "gateway,users,templates"}};

/// An API key allowed to read the node's actors (a route that needs no database).
std::string introspection_key(const running_node& node) {
  auto r = http_call("POST", node.url() + "/api/v1/api-keys",
                     json{{"name", "outage"}, {"scopes", {"introspection:read"}}}.dump());
  BOOST_REQUIRE_EQUAL(r.status, 201);
  return r.body["data"]["key"].get<std::string>();
}

http_reply actors(const running_node& node, const std::map<std::string, std::string>& headers) {
  return http_call("GET", node.url() + "/api/v1/introspection/actors", {}, headers);
}

} // namespace

BOOST_AUTO_TEST_SUITE(credentials_outage)

BOOST_AUTO_TEST_CASE(loaded_keys_keep_working_while_postgres_is_down) {
  running_node node{api_roles};
  auto key = bearer(introspection_key(node));
  BOOST_REQUIRE_EQUAL(actors(node, key).status, 200);
  stopped_server postgres{"postgres"};
  auto failed_before = actor_figure(node, "api_keys/refresher", "failed");
  // Until the refresher has failed to reload twice: the copy it keeps is what answers.
  BOOST_REQUIRE(eventually([&] {
    return actor_figure(node, "api_keys/refresher", "failed") >= failed_before + 2;
  }));
  auto r = actors(node, key);
  BOOST_TEST(r.status == 200, r.raw);
}

BOOST_AUTO_TEST_CASE(before_the_first_load_a_key_is_a_503_and_works_once_postgres_is_back) {
  std::string key;
  {
    running_node creator{api_roles};
    key = introspection_key(creator);
  }
  stopped_server postgres{"postgres"};
  running_node node{api_roles, false};
  auto r = actors(node, bearer(key));
  check_error(r, 503, "credentials cannot be checked");
  BOOST_TEST(actors(node, {}).status == 200); // the admin token needs no database
  auto ready = http_call("GET", node.url() + "/health/ready");
  BOOST_TEST_CONTEXT(ready.raw) {
    BOOST_CHECK_EQUAL(ready.status, 503);
    BOOST_CHECK_EQUAL(ready.body["data"]["dependencies"]["api_keys"]["status"], "down");
  }
  BOOST_REQUIRE(postgres.start());
  BOOST_TEST(eventually([&] { return actors(node, bearer(key)).status == 200; },
                        std::chrono::seconds{15}));
}

BOOST_AUTO_TEST_SUITE_END()
