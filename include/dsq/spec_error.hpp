#pragma once

#include <stdexcept>

namespace dsq {

/// A spec string ("topk:k=0.01", "mlp:hidden=64") that cannot be understood. what() names the
/// problem and quotes the whole spec, because specs usually arrive from a command line or a
/// config file. An invalid_argument, so that callers may catch either.
class spec_error : public std::invalid_argument {
public:
  using std::invalid_argument::invalid_argument;
};

} // namespace dsq
