#pragma once

#include <vector>

#include "model/model.hpp"

namespace dsq {

// A fully connected network with ReLU hidden layers and a softmax cross-entropy output:
// input_dim -> hidden[0] -> ... -> hidden[k-1] -> num_classes.
//
// Parameter layout: for each layer in order, W (fan_out x fan_in, column-major), then b
// (fan_out). The loss adds (l2 / 2) * sum ||W||^2 over the weight matrices, not the biases.
class multilayer_perceptron final : public model {
public:
  // Throws std::invalid_argument for input_dim < 1, num_classes < 2, no hidden layer (that is
  // softmax_regression), a zero hidden size or l2 < 0.
  multilayer_perceptron(Eigen::Index input_dim, std::vector<Eigen::Index> hidden, int num_classes,
                        float l2 = 0.0f);

  std::size_t num_parameters() const override;
  Eigen::Index input_dim() const override { return input_dim_; }
  int num_classes() const override { return num_classes_; }
  std::string spec() const override;

  const std::vector<Eigen::Index>& hidden_sizes() const { return hidden_; }

private:
  const char* name() const override { return "multilayer_perceptron"; }
  // He initialisation: W ~ N(0, 2 / fan_in), which keeps the activation variance steady
  // through ReLU layers; biases 0. Each layer draws from its own stream of the seed.
  void do_initialize(Eigen::Ref<Eigen::VectorXf> params, std::uint64_t seed) const override;
  float do_loss_and_gradient(const Eigen::VectorXf& params, const Eigen::MatrixXf& x,
                             std::span<const std::int32_t> y,
                             Eigen::Ref<Eigen::VectorXf> grad) const override;
  float do_loss(const Eigen::VectorXf& params, const Eigen::MatrixXf& x,
                std::span<const std::int32_t> y) const override;
  void do_predict(const Eigen::VectorXf& params, const Eigen::MatrixXf& x,
                  std::span<std::int32_t> out) const override;
  evaluation do_evaluate_batch(const Eigen::VectorXf& params, const Eigen::MatrixXf& x,
                               std::span<const std::int32_t> y) const override;
  struct layer {
    Eigen::Index fan_in, fan_out;
    std::size_t weight_offset, bias_offset; // into the flat parameter vector
  };

  // Hidden activations (after ReLU) of every hidden layer, and the logits; delta and below
  // for the backward pass. One per thread, kept between calls: a batch of the same size
  // allocates nothing (at batch 128 the allocator's mapping and trimming of these 128 KiB
  // matrices took a fifth of a gradient's time).
  struct forward_pass {
    std::vector<Eigen::MatrixXf> hidden;
    Eigen::MatrixXf logits, delta, below;
  };

  /// The calling thread's pass buffers.
  static forward_pass& thread_pass();
  /// Fills pass.hidden and pass.logits for the batch x.
  void forward(const Eigen::VectorXf& params, const Eigen::MatrixXf& x, forward_pass& pass) const;
  float penalty(const Eigen::VectorXf& params) const;

  Eigen::Index input_dim_;
  std::vector<Eigen::Index> hidden_;
  int num_classes_;
  float l2_;
  std::vector<layer> layers_;
  std::size_t num_parameters_ = 0;
};

} // namespace dsq
