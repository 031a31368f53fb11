#pragma once

#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>

#include <Eigen/Core>
#include <fmt/format.h>

namespace dsq {

// Argument checks shared by the models (internal). A wrong size would otherwise surface as an
// Eigen assertion in debug builds and as silent memory corruption in release builds.

inline void check_parameter_count(const char* who, Eigen::Index given, std::size_t expected) {
  if (static_cast<std::size_t>(given) != expected)
    throw std::invalid_argument(
        fmt::format("{}: parameter vector has {} entries, the model has {}", who, given, expected));
}

inline void check_inputs(const char* who, const Eigen::MatrixXf& x, Eigen::Index input_dim) {
  if (x.rows() != input_dim)
    throw std::invalid_argument(
        fmt::format("{}: inputs have {} features, the model expects {}", who, x.rows(), input_dim));
  if (x.cols() == 0)
    throw std::invalid_argument(fmt::format("{}: empty batch", who));
}

inline void check_labels(const char* who, const Eigen::MatrixXf& x, std::span<const std::int32_t> y,
                         int num_classes) {
  if (static_cast<std::size_t>(x.cols()) != y.size())
    throw std::invalid_argument(
        fmt::format("{}: {} samples but {} labels", who, x.cols(), y.size()));
  for (auto label : y)
    if (label < 0 || label >= num_classes)
      throw std::invalid_argument(
          fmt::format("{}: label {} outside [0, {})", who, label, num_classes));
}

} // namespace dsq
