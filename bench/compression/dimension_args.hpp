#pragma once

// The vector dimensions that bench_compression and bench_qsgd_feedback take on their command
// lines: each argument one number from 1 to 1e9 (250000, 1e6), nothing after it.

#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

namespace dsq::bench {

/// The dimension `arg` names; throws std::invalid_argument naming `arg` when it is not a
/// number from 1 to 1e9 or has anything after the number ("1e6x", "10 ").
inline std::size_t parse_dimension(const std::string& arg) {
  std::size_t used = 0;
  double d = 0;
  try {
    d = std::stod(arg, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != arg.size() || !(d >= 1) || d > 1e9)
    throw std::invalid_argument("'" + arg +
                                "' is no dimension (a number from 1 to 1e9, such as "
                                "1e6, with nothing after it; see --help)");
  return static_cast<std::size_t>(d);
}

/// Whether argv[1..argc) holds --help or -h.
inline bool asks_for_help(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (std::string{argv[i]} == "--help" || std::string{argv[i]} == "-h")
      return true;
  return false;
}

/// The dimensions of argv[1..argc), or `defaults` when there are none.
inline std::vector<std::size_t> parse_dimensions(int argc, char** argv,
                                                 std::vector<std::size_t> defaults) {
  std::vector<std::size_t> dims;
  for (int i = 1; i < argc; ++i)
    dims.push_back(parse_dimension(argv[i]));
  return dims.empty() ? defaults : dims;
}

} // namespace dsq::bench
