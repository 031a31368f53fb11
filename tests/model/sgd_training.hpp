#pragma once

#include <cstdint>
#include <vector>

#include <Eigen/Core>

#include "model/dataset.hpp"
#include "model/minibatch_sampler.hpp"
#include "model/model.hpp"

// Plain single-process minibatch SGD over a whole data set: the reference that the
// convergence tests hold the models to.
inline Eigen::VectorXf train_with_sgd(const dsq::model& m, const dsq::dataset& data,
                                      std::size_t epochs, std::size_t batch_size, float lr,
                                      std::uint64_t seed) {
  Eigen::VectorXf params(static_cast<Eigen::Index>(m.num_parameters()));
  m.initialize(params, seed);
  Eigen::VectorXf grad(params.size());
  std::vector<std::size_t> all(data.size());
  for (std::size_t i = 0; i < all.size(); ++i)
    all[i] = i;
  dsq::minibatch_sampler sampler(all, batch_size, seed);
  Eigen::MatrixXf x;
  std::vector<std::int32_t> y;
  while (sampler.epoch() < epochs) {
    dsq::gather(data, sampler.next(), x, y);
    m.loss_and_gradient(params, x, y, grad);
    params -= lr * grad;
  }
  return params;
}
