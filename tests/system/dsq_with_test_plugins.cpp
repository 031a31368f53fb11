// dsq with the tests' own models and data registered by name (tests/support/user_plugins.hpp:
// "lsq", "lsq_nan", "blobs"), as a program that uses the library registers its own: the system
// tests run `dsq server` and `dsq worker` processes of a model dsq does not have (lsq_nan, whose
// gradient is NaN).

#include "tests/support/user_plugins.hpp"

#include <dsq/run.hpp>

int main(int argc, char** argv) {
  user::register_plugins();
  return dsq::run_command_line(argc, argv);
}
