#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "model/model.hpp"

namespace dsq {

// A small convolutional network for square single-channel images (MNIST's 28 x 28), closer to
// the paper's convolutional model than the MLP, and with far more compute per parameter:
//
//   image (side x side, 1 channel)
//   -> conv 5x5, padding 2, channels[0] maps -> max-pool 2x2 -> ReLU
//   -> conv 5x5, padding 2, channels[1] maps -> max-pool 2x2 -> ReLU
//   -> dense `hidden` units -> ReLU -> dense num_classes -> softmax cross-entropy
//
// (pooling before the ReLU gives the same values as after it, since both are monotone, and
// touches a quarter of the numbers). Convolutions are im2col followed by matrix products
// (model/matrix_product.hpp), forward and backward; the second layer's im2col matrix is made
// and used a block of 256 columns at a time, so that it stays in the core's L2. Inputs are d x B
// with d = side * side, pixels in row-major order inside a column, as the MNIST reader stores them;
// side must be a multiple of 4 so that both poolings divide evenly.
//
// Parameter layout: conv1 W (channels[0] x 25, column-major; a row is one filter, its 25 taps
// in row-major order), b; conv2 W (channels[1] x 25*channels[0], column index
// (row * 5 + column) * channels[0] + in_channel: the channels innermost, as in the maps), b; dense
// W (hidden x channels[1]*(side/4)^2, feature index pixel * channels[1] + channel), b; output W
// (num_classes x hidden), b. The loss adds (l2 / 2) * sum ||W||^2 over the four weight matrices,
// not the biases.
class convolutional_network final : public model {
public:
  /// Throws std::invalid_argument for an input_dim that is not the square of a multiple of 4,
  /// num_classes < 2, a zero channel count or hidden size, or l2 < 0.
  convolutional_network(Eigen::Index input_dim, std::array<Eigen::Index, 2> channels,
                        Eigen::Index hidden, int num_classes, float l2 = 0.0f);

  /// Total number of weights and biases.
  std::size_t num_parameters() const override;
  /// Pixels of an image.
  Eigen::Index input_dim() const override { return input_dim_; }
  /// Classes of the output layer.
  int num_classes() const override { return num_classes_; }
  /// "cnn:channels=A,B,hidden=H" (and ",l2=X" when l2 is not 0).
  std::string spec() const override;

private:
  const char* name() const override { return "convolutional_network"; }
  /// He initialisation (W ~ N(0, 2 / fan_in), fan_in of a convolution = in_channels * 25),
  /// biases 0; each of the four layers draws from its own stream of the seed.
  void do_initialize(Eigen::Ref<Eigen::VectorXf> params, std::uint64_t seed) const override;
  /// Mean cross-entropy (+ L2) of the batch and its exact gradient.
  float do_loss_and_gradient(const Eigen::VectorXf& params, const Eigen::MatrixXf& x,
                             std::span<const std::int32_t> y,
                             Eigen::Ref<Eigen::VectorXf> grad) const override;
  /// Mean cross-entropy (+ L2) of the batch.
  float do_loss(const Eigen::VectorXf& params, const Eigen::MatrixXf& x,
                std::span<const std::int32_t> y) const override;
  /// The most likely class of each column of x.
  void do_predict(const Eigen::VectorXf& params, const Eigen::MatrixXf& x,
                  std::span<std::int32_t> out) const override;
  /// Loss and accuracy from one forward pass.
  evaluation do_evaluate_batch(const Eigen::VectorXf& params, const Eigen::MatrixXf& x,
                               std::span<const std::int32_t> y) const override;
  struct block {
    Eigen::Index rows, cols;                // of the weight matrix
    std::size_t weight_offset, bias_offset; // into the flat parameter vector
  };
  struct chunk_pass;

  void forward(const Eigen::VectorXf& params, const float* images, Eigen::Index count,
               chunk_pass& pass) const;
  void backward(const Eigen::VectorXf& params, const float* images, Eigen::Index count,
                bool first_chunk, chunk_pass& pass, Eigen::Ref<Eigen::VectorXf> grad) const;
  float penalty(const Eigen::VectorXf& params) const;

  Eigen::Index input_dim_, side_;
  std::array<Eigen::Index, 2> channels_;
  Eigen::Index hidden_;
  int num_classes_;
  float l2_;
  std::array<block, 4> blocks_; // conv1, conv2, dense, output
  std::size_t num_parameters_ = 0;
};

} // namespace dsq
