#pragma once

// The models' matrix products on Eigen matrices, computed by model/kernels/gemm.hpp at the
// process's active SIMD level (not by Eigen's product, which is compiled for the baseline
// only). Results: see gemm.hpp (fixed summation order; v2 differs from v3/v4 in rounding).

#include <Eigen/Core>

namespace dsq {

/// A column-major matrix as a product reads it: as it is, or transposed.
struct product_operand {
  const float* data;
  Eigen::Index rows, cols, outer_stride; // of the matrix as stored
  bool transposed;
};

/// The matrix m (a MatrixXf or a Map of one) as it is.
template <class Matrix>
product_operand as_is(const Matrix& m) {
  return {m.data(), m.rows(), m.cols(), m.outerStride(), false};
}

/// The transpose of the matrix m (a MatrixXf or a Map of one).
template <class Matrix>
product_operand transposed(const Matrix& m) {
  return {m.data(), m.rows(), m.cols(), m.outerStride(), true};
}

/// out = a * b, or out += a * b if `accumulate`; out must already have the product's shape and
/// overlap neither operand.
void multiply(Eigen::Ref<Eigen::MatrixXf> out, product_operand a, product_operand b,
              bool accumulate = false);

} // namespace dsq
