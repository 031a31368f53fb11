#pragma once

#include <stdexcept>
#include <string>

namespace dsq {

/// A compressor spec string ("topk:k=0.01") that cannot be understood. what() names the problem
/// and quotes the whole spec, because specs usually arrive from a command line or a config file.
class spec_error : public std::invalid_argument {
public:
  using std::invalid_argument::invalid_argument;
};

} // namespace dsq
