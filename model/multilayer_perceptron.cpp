#include "model/multilayer_perceptron.hpp"

#include <cmath>
#include <stdexcept>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "model/cross_entropy.hpp"
#include "model/data_rng.hpp"
#include "model/matrix_product.hpp"

namespace dsq {

namespace {

using const_matrix_view = Eigen::Map<const Eigen::MatrixXf>;
using const_vector_view = Eigen::Map<const Eigen::VectorXf>;

} // namespace

multilayer_perceptron::multilayer_perceptron(Eigen::Index input_dim,
                                             std::vector<Eigen::Index> hidden, int num_classes,
                                             float l2)
    : input_dim_(input_dim), hidden_(std::move(hidden)), num_classes_(num_classes), l2_(l2) {
  if (input_dim < 1 || num_classes < 2 || !(l2 >= 0))
    throw std::invalid_argument(fmt::format("multilayer_perceptron: need input_dim >= 1, "
                                            "num_classes >= 2 and l2 >= 0 (got {}, {}, {})",
                                            input_dim, num_classes, l2));
  if (hidden_.empty())
    throw std::invalid_argument(
        "multilayer_perceptron: needs at least one hidden layer (without, use softmax_regression)");
  Eigen::Index fan_in = input_dim;
  for (std::size_t l = 0; l <= hidden_.size(); ++l) {
    const auto fan_out = l < hidden_.size() ? hidden_[l] : Eigen::Index{num_classes};
    if (fan_out < 1)
      throw std::invalid_argument(
          fmt::format("multilayer_perceptron: hidden layer {} has size {}", l, fan_out));
    const auto weights = static_cast<std::size_t>(fan_in * fan_out);
    layers_.push_back({fan_in, fan_out, num_parameters_, num_parameters_ + weights});
    num_parameters_ += weights + static_cast<std::size_t>(fan_out);
    fan_in = fan_out;
  }
}

std::size_t multilayer_perceptron::num_parameters() const {
  return num_parameters_;
}

void multilayer_perceptron::do_initialize(Eigen::Ref<Eigen::VectorXf> params,
                                          std::uint64_t seed) const {
  for (std::size_t l = 0; l < layers_.size(); ++l) {
    const auto& layer = layers_[l];
    auto rng = data_rng::for_stream(seed, l);
    const double stddev = std::sqrt(2.0 / double(layer.fan_in));
    auto weights = params.segment(Eigen::Index(layer.weight_offset), layer.fan_in * layer.fan_out);
    for (auto& w : weights)
      w = static_cast<float>(stddev * rng.normal());
    params.segment(Eigen::Index(layer.bias_offset), layer.fan_out).setZero();
  }
}

multilayer_perceptron::forward_pass& multilayer_perceptron::thread_pass() {
  thread_local forward_pass pass;
  return pass;
}

void multilayer_perceptron::forward(const Eigen::VectorXf& params, const Eigen::MatrixXf& x,
                                    forward_pass& pass) const {
  pass.hidden.resize(hidden_.size());
  const Eigen::MatrixXf* input = &x;
  for (std::size_t l = 0; l < layers_.size(); ++l) {
    const auto& layer = layers_[l];
    const const_matrix_view w(params.data() + layer.weight_offset, layer.fan_out, layer.fan_in);
    const const_vector_view b(params.data() + layer.bias_offset, layer.fan_out);
    auto& out = l < hidden_.size() ? pass.hidden[l] : pass.logits;
    out.resize(layer.fan_out, x.cols());
    multiply(out, as_is(w), as_is(*input));
    out.colwise() += b;
    if (l < hidden_.size())
      out = out.cwiseMax(0.0f);
    input = &out;
  }
}

float multilayer_perceptron::penalty(const Eigen::VectorXf& params) const {
  if (l2_ == 0)
    return 0;
  double sum = 0;
  for (const auto& layer : layers_)
    sum += params.segment(Eigen::Index(layer.weight_offset), layer.fan_in * layer.fan_out)
               .squaredNorm();
  return static_cast<float>(0.5 * l2_ * sum);
}

float multilayer_perceptron::do_loss_and_gradient(const Eigen::VectorXf& params,
                                                  const Eigen::MatrixXf& x,
                                                  std::span<const std::int32_t> y,
                                                  Eigen::Ref<Eigen::VectorXf> grad) const {
  auto& pass = thread_pass();
  forward(params, x, pass);
  // delta is the gradient of the mean loss with respect to the current layer's pre-activation.
  Eigen::MatrixXf& delta = pass.delta;
  Eigen::MatrixXf& below = pass.below;
  delta.swap(pass.logits);
  const float data_loss = cross_entropy_with_gradient(delta, y);
  for (std::size_t l = layers_.size(); l-- > 0;) {
    const auto& layer = layers_[l];
    const Eigen::MatrixXf& input = l == 0 ? x : pass.hidden[l - 1];
    const const_matrix_view w(params.data() + layer.weight_offset, layer.fan_out, layer.fan_in);
    Eigen::Map<Eigen::MatrixXf> grad_w(grad.data() + layer.weight_offset, layer.fan_out,
                                       layer.fan_in);
    multiply(grad_w, as_is(delta), transposed(input));
    if (l2_ != 0)
      grad_w += l2_ * w;
    grad.segment(Eigen::Index(layer.bias_offset), layer.fan_out) = delta.rowwise().sum();
    if (l == 0)
      break; // the gradient with respect to the inputs is not needed
    below.resize(layer.fan_in, x.cols());
    multiply(below, transposed(w), as_is(delta));
    // ReLU passes the gradient where its output was positive; its output is `input` here.
    below.array() *= (input.array() > 0.0f).cast<float>();
    delta.swap(below);
  }
  return data_loss + penalty(params);
}

float multilayer_perceptron::do_loss(const Eigen::VectorXf& params, const Eigen::MatrixXf& x,
                                     std::span<const std::int32_t> y) const {
  auto& pass = thread_pass();
  forward(params, x, pass);
  return static_cast<float>(total_cross_entropy(pass.logits, y) / double(x.cols())) +
         penalty(params);
}

void multilayer_perceptron::do_predict(const Eigen::VectorXf& params, const Eigen::MatrixXf& x,
                                       std::span<std::int32_t> out) const {
  auto& pass = thread_pass();
  forward(params, x, pass);
  argmax_per_column(pass.logits, out);
}

evaluation multilayer_perceptron::do_evaluate_batch(const Eigen::VectorXf& params,
                                                    const Eigen::MatrixXf& x,
                                                    std::span<const std::int32_t> y) const {
  auto& pass = thread_pass();
  forward(params, x, pass);
  const Eigen::MatrixXf& logits = pass.logits;
  std::vector<std::int32_t> predicted(y.size());
  argmax_per_column(logits, predicted);
  std::size_t correct = 0;
  for (std::size_t i = 0; i < y.size(); ++i)
    correct += predicted[i] == y[i];
  return {total_cross_entropy(logits, y) / double(x.cols()) + penalty(params),
          double(correct) / double(y.size())};
}

std::string multilayer_perceptron::spec() const {
  auto text = fmt::format("mlp:hidden={}", fmt::join(hidden_, ","));
  if (l2_ != 0)
    text += fmt::format(",l2={:g}", l2_);
  return text;
}

} // namespace dsq
