#pragma once

#include <dsq/data.hpp>
#include <dsq/model.hpp>
#include <dsq/spec_args.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <Eigen/Core>

namespace dsq {

/// Builds a model for data of `input_dim` features and `num_classes` classes from the
/// parameters of its spec ("mine:width=16" -> args.count("width")). The registry calls
/// args.reject_unread() after it returns, so a parameter it never read is an error. Throw
/// spec_error(args.error("...")) for a value it cannot use.
using model_factory = std::function<std::unique_ptr<model>(
    const spec_args& args, Eigen::Index input_dim, int num_classes)>;

/// Makes --model=name:... (and make_model) build a program's own model. Register before the
/// first run of the process, in every process of the run (server and workers). Throws
/// std::invalid_argument if the name is empty, not [a-z0-9_-]+, a built-in's (softmax, mlp,
/// cnn) or already registered. Thread-safe.
void register_model(std::string name, model_factory factory);

/// What a data factory may use: the run's seed and where data files are looked for.
struct data_context {
  std::uint64_t seed = 1;               ///< the run's --seed
  std::vector<std::string> search_path; ///< --data-dir, $DSQ_DATA_DIR, ... in the order searched
};

/// Builds a data set from the parameters of its spec. The registry calls args.reject_unread()
/// after it returns. The same spec and seed must give the same data in every process of the run.
using data_factory = std::function<std::shared_ptr<const data_source>(const spec_args& args,
                                                                      const data_context& ctx)>;

/// Makes --dataset=name:... build a program's own data. Register before the first run, in
/// every process of the run. Throws std::invalid_argument if the name is empty, not
/// [a-z0-9_-]+, a built-in's (auto, mnist, synthetic, libsvm, csv) or already registered.
/// Thread-safe.
void register_dataset(std::string name, data_factory factory);

/// The names register_model() was given, sorted.
std::vector<std::string> registered_models();

/// The names register_dataset() was given, sorted.
std::vector<std::string> registered_datasets();

} // namespace dsq
