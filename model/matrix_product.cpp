#include "model/matrix_product.hpp"

#include <cassert>

#include "model/kernels/gemm.hpp"

namespace dsq {

namespace {

matrix_operand operand_of(product_operand m) {
  return m.transposed ? matrix_operand::transpose_of(m.data, m.outer_stride)
                      : matrix_operand::column_major(m.data, m.outer_stride);
}

} // namespace

void multiply(Eigen::Ref<Eigen::MatrixXf> out, product_operand a, product_operand b,
              bool accumulate) {
  const Eigen::Index m = a.transposed ? a.cols : a.rows, k = a.transposed ? a.rows : a.cols;
  const Eigen::Index n = b.transposed ? b.rows : b.cols;
  assert((b.transposed ? b.cols : b.rows) == k && out.rows() == m && out.cols() == n);
  gemm({m, n, k, operand_of(a), operand_of(b), out.data(), out.outerStride(), accumulate});
}

} // namespace dsq
