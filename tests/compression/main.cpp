#define BOOST_TEST_MODULE compression
#include <boost/test/unit_test.hpp>
