#define BOOST_TEST_MODULE herald_unit_tests
#include <boost/test/unit_test.hpp>
