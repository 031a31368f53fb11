#pragma once

#include <cstdint>
#include <span>

#include <Eigen/Core>

namespace dsq {

// Softmax cross-entropy on logits (C x B, one sample per column), computed through a
// log-softmax with each column's maximum subtracted, so no exp() can overflow and no log()
// sees 0. Shared by every classifier of this library.

// Mean cross-entropy of the batch; on return `logits` holds its gradient with respect to the
// logits, (softmax - onehot(y)) / B.
float cross_entropy_with_gradient(Eigen::MatrixXf& logits, std::span<const std::int32_t> y);

// Sum (not mean) of the per-sample cross-entropies, in double so that chunks can be added up.
double total_cross_entropy(const Eigen::MatrixXf& logits, std::span<const std::int32_t> y);

// Index of the largest logit of each column (the first one on ties).
void argmax_per_column(const Eigen::MatrixXf& logits, std::span<std::int32_t> out);

} // namespace dsq
