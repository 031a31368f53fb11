#pragma once

// The host file of `dsq launch`, in MPI's style: one host per line, `NAME [slots=N]
// [address=ADDR]`, `#` starts a comment, blank lines are allowed. The name is what the launch
// command gets as {host} (an ssh destination, a network namespace); the address is where the
// other hosts reach the parameter server when it runs there (default: the name).

#include <string>
#include <vector>

namespace dsq {

/// One line of a host file.
struct launch_host {
  std::string name;    ///< {host} of the launch command; "localhost": this machine, no template
  int slots = 1;       ///< workers it takes (the server takes none)
  std::string address; ///< how the others reach it (the name unless address= is given)
  int line = 0;        ///< 1-based line in its file
};

/// Hosts have at most this many slots (a typo such as slots=40000 is refused).
inline constexpr int max_host_slots = 4096;

/// The hosts of `text`, in order. Throws config_error "ORIGIN:LINE: what is wrong" on a bad
/// line, a host given twice, and a file without hosts.
std::vector<launch_host> parse_host_file(const std::string& text, const std::string& origin);

/// parse_host_file of the file `path`; throws config_error when it cannot be read.
std::vector<launch_host> read_host_file(const std::string& path);

} // namespace dsq
