#include "training/training_setup.hpp"

#include "model/data_locations.hpp"
#include "model/load_dataset.hpp"
#include "model/make_model.hpp"
#include "model/mnist.hpp"

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
  if (data->train.size() == 0)
    throw config_error("--dataset=" + spec + ": the training set is empty");
  result.identity = identify_data(spec, *data);
  result.net = make_model(cfg.model, data->train.dimension(), data->train.num_classes);
  result.data = std::move(data);
  return result;
}

} // namespace dsq
