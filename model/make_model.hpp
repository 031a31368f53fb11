#pragma once

#include <memory>
#include <string_view>

#include <Eigen/Core>

#include "model/model.hpp"
#include "model/model_spec_error.hpp"

namespace dsq {

// Builds a model from its spec:
//   softmax                      softmax_regression
//   mlp                          multilayer_perceptron with hidden=256,128
//   mlp:hidden=A,B,...           ... with the given hidden layer sizes
//   cnn[:channels=A,B][,hidden=H] convolutional_network, default channels=32,64,hidden=1024
// All take l2=VALUE (default 0), e.g. "mlp:hidden=64,l2=1e-4" or "softmax:l2=1e-4".
// Throws dsq::model_spec_error naming the spec and the known models for an unknown model,
// an unknown option, a bad value, or sizes the model rejects.
// A model of more than max_model_parameters (model/model_limits.hpp) is refused the same way,
// before anything is allocated.
std::unique_ptr<model> make_model(std::string_view spec, Eigen::Index input_dim, int num_classes);

/// Checks what can be checked of a model spec without the data: the model, its options and
/// their values, and a size beyond max_model_parameters even for one feature and two classes.
/// Throws dsq::model_spec_error as make_model() does.
void check_model_spec(std::string_view spec);

} // namespace dsq
