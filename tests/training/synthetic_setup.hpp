#pragma once

// The small in-memory set-up the worker and shard tests train on: a synthetic data set of the
// given shape from `seed`, and a model built for it.

#include "model/make_model.hpp"
#include "model/synthetic.hpp"
#include "training/training_setup.hpp"

#include <cstdint>
#include <memory>
#include <string>

/// `train` and `test` samples of `dimension` features in `classes` classes (make_synthetic with
/// `seed`), and `model` sized to them.
inline dsq::training_setup synthetic_setup(std::size_t train, std::size_t test,
                                           Eigen::Index dimension, int classes, std::uint64_t seed,
                                           const std::string& model = "softmax") {
  dsq::synthetic_options o;
  o.train_size = train;
  o.test_size = test;
  o.dimension = dimension;
  o.num_classes = classes;
  dsq::training_setup s;
  auto data = std::make_shared<dsq::train_test>(dsq::make_synthetic(o, seed));
  s.net = dsq::make_model(model, data->train.dimension(), data->train.num_classes);
  s.data = std::move(data);
  return s;
}
