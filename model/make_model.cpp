#include "model/make_model.hpp"

#include <fmt/format.h>

#include "base/keyed_spec.hpp"
#include "model/cnn.hpp"
#include "model/multilayer_perceptron.hpp"
#include "model/softmax_regression.hpp"

namespace dsq {

namespace {

constexpr const char* known_models =
    "softmax[:l2=X], mlp[:hidden=N,N,...][,l2=X], cnn[:channels=A,B][,hidden=H][,l2=X]";

const std::vector<std::uint64_t> default_hidden{256, 128};
const std::vector<std::uint64_t> default_cnn_channels{32, 64};

std::unique_ptr<model> build(keyed_spec& spec, Eigen::Index input_dim, int num_classes) {
  // The constructors' own complaints (a zero layer size, too few classes) name no spec.
  auto construct = [&spec](auto make) -> std::unique_ptr<model> {
    try {
      return make();
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(spec.error_message(e.what()));
    }
  };
  if (spec.name() == "softmax") {
    spec.reject_unknown({"l2"});
    const auto l2 = static_cast<float>(spec.take_double("l2").value_or(0.0));
    return construct(
        [&] { return std::make_unique<softmax_regression>(input_dim, num_classes, l2); });
  }
  if (spec.name() == "mlp") {
    spec.reject_unknown({"hidden", "l2"});
    const auto l2 = static_cast<float>(spec.take_double("l2").value_or(0.0));
    const auto sizes = spec.take_unsigned_list("hidden").value_or(default_hidden);
    std::vector<Eigen::Index> hidden(sizes.begin(), sizes.end());
    return construct([&] {
      return std::make_unique<multilayer_perceptron>(input_dim, hidden, num_classes, l2);
    });
  }
  if (spec.name() == "cnn") {
    spec.reject_unknown({"channels", "hidden", "l2"});
    const auto l2 = static_cast<float>(spec.take_double("l2").value_or(0.0));
    const auto channels = spec.take_unsigned_list("channels").value_or(default_cnn_channels);
    if (channels.size() != 2)
      throw std::invalid_argument(
          spec.error_message("channels= needs two counts, one per convolution (e.g. 32,64)"));
    const auto hidden = static_cast<Eigen::Index>(spec.take_unsigned("hidden").value_or(1024));
    return construct([&] {
      return std::make_unique<convolutional_network>(
          input_dim, std::array{Eigen::Index(channels[0]), Eigen::Index(channels[1])}, hidden,
          num_classes, l2);
    });
  }
  throw std::invalid_argument(spec.error_message(fmt::format("unknown model '{}'", spec.name())));
}

} // namespace

std::unique_ptr<model> make_model(std::string_view spec_text, Eigen::Index input_dim,
                                  int num_classes) {
  // One error type for everything wrong with a model spec, however deep it was found.
  try {
    keyed_spec spec(spec_text, "model");
    return build(spec, input_dim, num_classes);
  } catch (const std::invalid_argument& e) {
    throw model_spec_error(fmt::format("{} (known models: {})", e.what(), known_models));
  }
}

} // namespace dsq
