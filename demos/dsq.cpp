// dsq: DoubleSqueeze training on CAF actors. The program is dsq::run_command_line
// (include/dsq/run.hpp; its code is in actors/run/): `dsq --help` says what it does.

#include <dsq/run.hpp>

int main(int argc, char** argv) {
  return dsq::run_command_line(argc, argv);
}
