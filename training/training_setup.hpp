#pragma once

#include "config/run_config.hpp"
#include "model/data_identity.hpp"
#include "model/dataset.hpp"
#include "model/model.hpp"

#include <cstdint>
#include <memory>
#include <string>

namespace dsq {

/// What a run trains: the data and the model sized to it. Shared read-only by every actor
/// of a process (workers of `dsq local` do not copy the data set).
struct training_setup {
  std::shared_ptr<const train_test> data;
  std::shared_ptr<const model> net;
  std::string note; ///< e.g. why synthetic data stands in for MNIST
  /// Where the data came from when a cache was involved ("data from the cache FILE"), for the
  /// commands to print unless quiet; empty otherwise.
  std::string data_note;
  /// What `data` is (its concrete spec, shape and fingerprint); empty spec when the data did not
  /// come from load_training().
  data_identity identity;
};

/// Loads cfg.dataset ("auto" is MNIST when it has been fetched, synthetic data otherwise) and
/// builds cfg.model for its dimensions, with the data's identity. Throws with a message that
/// names the problem.
training_setup load_training(const run_config& cfg);

} // namespace dsq
