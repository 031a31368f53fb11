#include "compression/error_feedback.hpp"

#include "compression/detail/kernels.hpp"
#include "compression/qsgd.hpp"
#include "compression/sign.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace dsq {

error_feedback::error_feedback(std::size_t dim) : residual_(dim, 0.0f) {}

compressed_message error_feedback::compress(const compressor& op, std::span<const float> g,
                                            rng_engine& rng) {
  compressed_message c;
  compress_into(op, g, rng, c);
  return c;
}

void error_feedback::compress_into(const compressor& op, std::span<const float> g, rng_engine& rng,
                                   compressed_message& c) {
  if (g.size() != residual_.size())
    throw std::invalid_argument("error_feedback: input has " + std::to_string(g.size()) +
                                " coordinates, residual has " + std::to_string(residual_.size()));
  // v = g + δ is built in the residual's own storage: no second d-sized buffer. QSGD's norm is
  // summed in the same pass (the same bits as its own pass over v, which this saves), and sign's
  // bits and magnitudes are packed in it, after the previous step's δ ← v − c.
  if (const auto* sign = dynamic_cast<const sign_compressor*>(&op)) {
    sign_feedback_input input;
    input.dense = g;
    sign->feedback_compress_into(residual_, has_deferred_ ? &deferred_ : nullptr, input, scratch_,
                                 c);
    defer(c);
    return;
  }
  settle();
  if (const auto* qsgd = dynamic_cast<const qsgd_compressor*>(&op)) {
    const double sum_of_squares =
        detail::active_kernels().add_sum_of_squares(residual_.data(), g.data(), g.size());
    qsgd->compress_into(residual_, sum_of_squares, rng, c);
  } else {
    for (std::size_t j = 0; j < g.size(); ++j)
      residual_[j] += g[j];
    op.compress_into(residual_, rng, c);
  }
  // δ ← v − c. Subtracting through add_scaled touches only the k kept coordinates of sparse
  // messages, and leaves exact zeros where c_j = v_j.
  add_scaled(c, -1.0f, residual_);
}

bool error_feedback::compress_mean_into(const compressor& op,
                                        std::span<const compressed_message> pushes, float weight,
                                        compressed_message& out) {
  const auto* sign = dynamic_cast<const sign_compressor*>(&op);
  if (sign == nullptr || pushes.empty())
    return false;
  for (const auto& c : pushes)
    if (c.op != operator_id::sign)
      return false;
  sign_feedback_input input;
  input.pushes = pushes;
  input.weight = weight;
  sign->feedback_compress_into(residual_, has_deferred_ ? &deferred_ : nullptr, input, scratch_,
                               out);
  defer(out);
  return true;
}

void error_feedback::defer(const compressed_message& c) {
  deferred_ = c; // the vectors' assignment keeps their capacity: no allocation per step
  has_deferred_ = true;
}

void error_feedback::settle() const {
  if (!has_deferred_)
    return;
  add_scaled(deferred_, -1.0f, residual_);
  has_deferred_ = false;
}

void error_feedback::reset() noexcept {
  has_deferred_ = false;
  std::fill(residual_.begin(), residual_.end(), 0.0f);
}

} // namespace dsq
