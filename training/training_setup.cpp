#include "training/training_setup.hpp"

#include "model/load_dataset.hpp"
#include "model/make_model.hpp"
#include "model/mnist.hpp"

namespace dsq {

training_setup load_training(const run_config& cfg) {
  training_setup result;
  std::string spec = cfg.dataset;
  if (spec == "auto") {
    if (mnist_available()) {
      spec = "mnist";
    } else {
      spec = "synthetic";
      result.note = "MNIST not found (run scripts/setup.sh to fetch it): using synthetic data";
    }
  }
  auto data = std::make_shared<train_test>(load_dataset(spec, cfg.seed));
  if (data->train.size() == 0)
    throw config_error("--dataset=" + spec + ": the training set is empty");
  result.net = make_model(cfg.model, data->train.dimension(), data->train.num_classes);
  result.data = std::move(data);
  return result;
}

} // namespace dsq
