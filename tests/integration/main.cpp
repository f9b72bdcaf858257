#define BOOST_TEST_MODULE herald_integration_tests
#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <string>

namespace {

/// Points HERALD_TEST_AMQP_URL at the suite's own virtual host (HERALD_TEST_VHOST, set per
/// suite by CTest; scripts/test creates them), so everything in this process — the node,
/// direct publishers and consumers — uses it. Without the variable: the default "/".
struct suite_vhost {
  suite_vhost() {
    const char* vhost = std::getenv("HERALD_TEST_VHOST");
    const char* url = std::getenv("HERALD_TEST_AMQP_URL");
    if (vhost != nullptr && *vhost != '\0' && url != nullptr) {
      std::string with{url};
      if (with.empty() || with.back() != '/') {
        with += '/';
      }
      ::setenv("HERALD_TEST_AMQP_URL", (with + vhost).c_str(), 1);
    }
  }
};

} // namespace

BOOST_TEST_GLOBAL_FIXTURE(suite_vhost);
