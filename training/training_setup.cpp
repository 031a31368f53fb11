#include "training/training_setup.hpp"

#include "model/data_locations.hpp"
#include "model/load_dataset.hpp"
#include "model/make_model.hpp"
#include "model/mnist.hpp"
#include "model/registry.hpp"

#include <fmt/format.h>

#include <dsq/spec_args.hpp>

#include <fmt/format.h>

namespace dsq {

namespace {

/// A program's own data set (include/dsq/registry.hpp), checked as far as the runtime can.
std::shared_ptr<const data_source> build_registered(const data_factory& factory,
                                                    const std::string& spec,
                                                    const data_locations& where,
                                                    std::uint64_t seed) {
  const spec_args args(spec, "dataset");
  data_context ctx;
  ctx.seed = seed;
  for (const auto& root : where.data_roots())
    ctx.search_path.push_back(root.string());
  auto source = factory(args, ctx);
  args.reject_unread();
  if (!source)
    throw config_error("--dataset=" + spec + ": the registered factory returned no data");
  if (source->input_dim() <= 0 || source->num_classes() < 2)
    throw config_error(fmt::format("--dataset={}: {} features and {} classes; the data needs at "
                                   "least one feature and two classes",
                                   spec, source->input_dim(), source->num_classes()));
  return source;
}

} // namespace

std::shared_ptr<const data_source> data_of(const training_setup& setup) {
  if (setup.source)
    return setup.source;
  if (setup.data)
    return in_memory_data(setup.data);
  throw std::invalid_argument("training_setup: no data");
}

training_setup load_training(const run_config& cfg) {
  training_setup result;
  std::string spec = cfg.dataset;
  // Relative data paths and MNIST are looked for in one documented order (data_locations.hpp),
  // --data-dir before DSQ_DATA_DIR.
  const auto where = default_data_locations(cfg.data_dir);
  if (spec != "auto")
    if (auto factory = find_data_factory(spec_args(spec, "dataset").name())) {
      auto source = build_registered(*factory, spec, where, cfg.seed);
      if (source->train_size() == 0)
        throw config_error("--dataset=" + spec + ": the training set is empty");
      result.identity = identify_source(spec, *source, cfg.seed);
      result.net = make_model(cfg.model, source->input_dim(), source->num_classes());
      result.source = std::move(source);
      return result;
    }
  if (spec == "auto") {
    if (find_mnist_directory(where)) {
      spec = "mnist";
    } else {
      spec = "synthetic";
      result.note =
          std::string(mnist_not_found(mnist_search_path(where)).what()) + ": using synthetic data";
    }
  }
  auto data = std::make_shared<train_test>(load_dataset(spec, cfg.seed, where));
  // A damaged cache or one that cannot be written is worth a word even in a quiet run; where
  // the data came from otherwise goes with the run's header (data_note).
  if (data->cache_warning)
    fmt::print(stderr, "dsq: note: {}\n", data->cache_note);
  else
    result.data_note = data->cache_note;
  if (data->train.size() == 0)
    throw config_error("--dataset=" + spec + ": the training set is empty");
  result.identity = identify_data(spec, *data);
  result.net = make_model(cfg.model, data->train.dimension(), data->train.num_classes);
  result.data = std::move(data);
  result.source = in_memory_data(result.data);
  return result;
}

} // namespace dsq
