#pragma once

#include "config/run_config.hpp"
#include "model/data_identity.hpp"
#include "model/dataset.hpp"
#include "model/model.hpp"

#include <dsq/data.hpp>

#include <cstdint>
#include <memory>
#include <string>

namespace dsq {

/// What a run trains: the data and the model sized to it. Shared read-only by every actor
/// of a process (workers of `dsq local` do not copy the data set).
struct training_setup {
  /// The built-in data in memory; null for a program's own data (then only `source` is set).
  std::shared_ptr<const train_test> data;
  std::shared_ptr<const model> net;
  std::string note; ///< e.g. why synthetic data stands in for MNIST
  /// Where the data came from when a cache was involved ("data from the cache FILE"), for the
  /// commands to print unless quiet; empty otherwise.
  std::string data_note;
  /// What the data is (its concrete spec, shape and fingerprint); empty spec when the data did
  /// not come from load_training().
  data_identity identity;
  /// The data as the runtime samples and evaluates it: in_memory_data(data) for the built-ins,
  /// the registered factory's source for a program's own. May be null when `data` is set
  /// (setups built by hand): data_of() fills it in.
  std::shared_ptr<const data_source> source;
};

/// setup.source, or in_memory_data(setup.data) when only the data is set. Throws
/// std::invalid_argument when neither is.
std::shared_ptr<const data_source> data_of(const training_setup& setup);

/// True if the setup holds data (built-in or a program's own).
inline bool has_data(const training_setup& setup) {
  return setup.source != nullptr || setup.data != nullptr;
}

/// Loads cfg.dataset ("auto" is MNIST when it has been fetched, synthetic data otherwise; a
/// name given to register_dataset() is built by its factory) and builds cfg.model for its
/// dimensions, with the data's identity. Throws with a message that names the problem.
training_setup load_training(const run_config& cfg);

} // namespace dsq
