#include "training/training_setup.hpp"

#include "model/data_locations.hpp"
#include "model/load_dataset.hpp"
#include "model/make_model.hpp"
#include "model/mnist.hpp"

#include <fmt/format.h>

namespace dsq {

training_setup load_training(const run_config& cfg) {
  training_setup result;
  std::string spec = cfg.dataset;
  // Relative data paths and MNIST are looked for in one documented order (data_locations.hpp),
  // --data-dir before DSQ_DATA_DIR.
  const auto where = default_data_locations(cfg.data_dir);
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
  return result;
}

} // namespace dsq
