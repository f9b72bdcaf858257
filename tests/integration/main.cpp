#define BOOST_TEST_MODULE herald_integration_tests
#include <boost/test/unit_test.hpp>
