#include "model/make_model.hpp"

#include <fmt/format.h>

#include <limits>

#include "base/keyed_spec.hpp"
#include "model/cnn.hpp"
#include "model/model_limits.hpp"
#include "model/multilayer_perceptron.hpp"
#include "model/registry.hpp"
#include "model/softmax_regression.hpp"

namespace dsq {

namespace {

constexpr const char* known_models =
    "softmax[:l2=X], mlp[:hidden=N,N,...][,l2=X], cnn[:channels=A,B][,hidden=H][,l2=X]";

const std::vector<std::uint64_t> default_hidden{256, 128};
const std::vector<std::uint64_t> default_cnn_channels{32, 64};

/// What a spec asks for, parsed and checked, before anything is allocated.
struct model_request {
  std::string name;
  float l2 = 0;
  std::vector<std::uint64_t> hidden;   ///< mlp: hidden layer sizes
  std::vector<std::uint64_t> channels; ///< cnn: maps of the two convolutions
  std::uint64_t cnn_hidden = 1024;     ///< cnn: the dense layer
};

model_request parse_request(const keyed_spec& spec) {
  model_request r;
  r.name = spec.name();
  if (r.name == "softmax") {
    spec.reject_unknown({"l2"});
  } else if (r.name == "mlp") {
    spec.reject_unknown({"hidden", "l2"});
    r.hidden = spec.take_unsigned_list("hidden").value_or(default_hidden);
  } else if (r.name == "cnn") {
    spec.reject_unknown({"channels", "hidden", "l2"});
    r.channels = spec.take_unsigned_list("channels").value_or(default_cnn_channels);
    if (r.channels.size() != 2)
      throw std::invalid_argument(
          spec.error_message("channels= needs two counts, one per convolution (e.g. 32,64)"));
    r.cnn_hidden = spec.take_unsigned("hidden").value_or(1024);
  } else {
    throw std::invalid_argument(spec.error_message(fmt::format("unknown model '{}'", spec.name())));
  }
  r.l2 = static_cast<float>(spec.take_double("l2").value_or(0.0));
  return r;
}

/// a * b + c, saturating at the largest uint64 (sizes from a spec can be anything).
std::uint64_t saturating(std::uint64_t a, std::uint64_t b, std::uint64_t c = 0) {
  constexpr auto top = std::numeric_limits<std::uint64_t>::max();
  if (a != 0 && b > top / a)
    return top;
  return a * b > top - c ? top : a * b + c;
}

/// Weights and biases of `r` for `input_dim` features and `classes` classes (saturating).
std::uint64_t parameter_count(const model_request& r, std::uint64_t input_dim,
                              std::uint64_t classes) {
  constexpr std::uint64_t kernel = 5 * 5;
  std::uint64_t total = 0;
  auto layer = [&](std::uint64_t in, std::uint64_t out) {
    total = saturating(in, out, saturating(out, 1, total));
  };
  if (r.name == "softmax") {
    layer(input_dim, classes);
  } else if (r.name == "mlp") {
    auto in = input_dim;
    for (auto width : r.hidden) {
      layer(in, width);
      in = width;
    }
    layer(in, classes);
  } else {
    std::uint64_t side = 0;
    while ((side + 1) * (side + 1) <= input_dim)
      ++side;
    layer(kernel, r.channels[0]);
    layer(saturating(r.channels[0], kernel), r.channels[1]);
    layer(saturating(r.channels[1], (side / 4) * (side / 4)), r.cnn_hidden);
    layer(r.cnn_hidden, classes);
  }
  return total;
}

/// Refuses a model of more than max_model_parameters, naming the count and the limit.
void check_size(const keyed_spec& spec, const model_request& r, std::uint64_t input_dim,
                std::uint64_t classes, const char* for_what) {
  const auto count = parameter_count(r, input_dim, classes);
  if (count > max_model_parameters)
    throw std::invalid_argument(spec.error_message(fmt::format(
        "{} parameters{}, more than the limit of {} (model/model_limits.hpp)",
        count == std::numeric_limits<std::uint64_t>::max() ? std::string{"more than 2^64"}
                                                           : std::to_string(count),
        for_what, max_model_parameters)));
}

std::unique_ptr<model> build(const keyed_spec& spec, Eigen::Index input_dim, int num_classes) {
  const auto r = parse_request(spec);
  check_size(spec, r, static_cast<std::uint64_t>(std::max<Eigen::Index>(input_dim, 0)),
             static_cast<std::uint64_t>(std::max(num_classes, 0)),
             fmt::format(" for {} features and {} classes", input_dim, num_classes).c_str());
  // The constructors' own complaints (a zero layer size, too few classes) name no spec.
  auto construct = [&spec](auto make) -> std::unique_ptr<model> {
    try {
      return make();
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(spec.error_message(e.what()));
    }
  };
  if (r.name == "softmax")
    return construct(
        [&] { return std::make_unique<softmax_regression>(input_dim, num_classes, r.l2); });
  if (r.name == "mlp") {
    std::vector<Eigen::Index> hidden(r.hidden.begin(), r.hidden.end());
    return construct([&] {
      return std::make_unique<multilayer_perceptron>(input_dim, hidden, num_classes, r.l2);
    });
  }
  return construct([&] {
    return std::make_unique<convolutional_network>(
        input_dim, std::array{Eigen::Index(r.channels[0]), Eigen::Index(r.channels[1])},
        Eigen::Index(r.cnn_hidden), num_classes, r.l2);
  });
}

bool built_in(const std::string& name) {
  return name == "softmax" || name == "mlp" || name == "cnn";
}

/// A program's own model (include/dsq/registry.hpp), checked as far as the runtime can: it
/// exists, fits the data and is not larger than the limit.
std::unique_ptr<model> build_registered(const model_factory& factory, std::string_view spec_text,
                                        Eigen::Index input_dim, int num_classes) {
  const spec_args args(spec_text, "model");
  auto m = factory(args, input_dim, num_classes);
  args.reject_unread();
  if (!m)
    throw std::invalid_argument(args.error("the registered factory returned no model"));
  if (m->input_dim() != input_dim || m->num_classes() != num_classes)
    throw std::invalid_argument(
        args.error(fmt::format("the model takes {} features and {} classes, the data has {} and {}",
                               m->input_dim(), m->num_classes(), input_dim, num_classes)));
  if (m->num_parameters() == 0 || m->num_parameters() > max_model_parameters)
    throw std::invalid_argument(
        args.error(fmt::format("{} parameters; a model needs between 1 and {} "
                               "(model/model_limits.hpp)",
                               m->num_parameters(), max_model_parameters)));
  return m;
}

/// The error for a spec that failed: the problem, and every model that is known.
model_spec_error spec_failure(const char* what) {
  return model_spec_error(fmt::format("{} (known models: {}{})", what, known_models,
                                      registered_tail(registered_models())));
}

} // namespace

std::unique_ptr<model> make_model(std::string_view spec_text, Eigen::Index input_dim,
                                  int num_classes) {
  // One error type for everything wrong with a model spec, however deep it was found.
  try {
    const keyed_spec spec(spec_text, "model");
    if (!built_in(spec.name()))
      if (auto factory = find_model_factory(spec.name()))
        return build_registered(*factory, spec_text, input_dim, num_classes);
    return build(spec, input_dim, num_classes);
  } catch (const std::invalid_argument& e) {
    throw spec_failure(e.what());
  }
}

void check_model_spec(std::string_view spec_text) {
  try {
    keyed_spec spec(spec_text, "model");
    // A registered model's parameters are its factory's to read, with the data's shape.
    if (!built_in(spec.name()) && find_model_factory(spec.name()))
      return;
    const auto r = parse_request(spec);
    // The smallest data a model can meet: one feature (16 for a CNN), two classes. A model too
    // large even for that is too large for any data.
    check_size(spec, r, r.name == "cnn" ? 16 : 1, 2, " even for the smallest data");
  } catch (const std::invalid_argument& e) {
    throw spec_failure(e.what());
  }
}

} // namespace dsq
