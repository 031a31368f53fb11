#pragma once

#include <dsq/dataset.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <Eigen/Core>

namespace dsq {

/// Which part of the training data a worker samples from, and how.
struct shard_spec {
  std::uint32_t index = 0;      ///< this worker's shard, in [0, count)
  std::uint32_t count = 1;      ///< shards (workers) in the current assignment
  std::uint64_t generation = 0; ///< bumped at every join or departure
  std::size_t batch = 32;       ///< samples per minibatch
  std::uint64_t seed = 1;       ///< the run's seed
  bool shuffled = true;         ///< --shard=shuffled (else contiguous)
  std::uint32_t worker = 0;     ///< the worker's id (ids are never reused within a run)
};

/// A worker's source of minibatches over its shard. One per worker; called from one thread.
///
/// Determinism: the batches must depend only on the shard_spec and the state words, so that
/// two sources opened with the same spec (and restored from the same state()) give the same
/// batches bit for bit; exact resume and the run's reproducibility rely on it.
class batch_source {
public:
  /// Destroys the source (the runtime drops it when the shard changes or the worker ends).
  virtual ~batch_source() = default;
  /// The next minibatch: x (input_dim x batch, one sample per column) and y (labels in
  /// [0, num_classes)), reusing their storage.
  virtual void next(Eigen::MatrixXf& x, std::vector<std::int32_t>& y) = 0;
  /// Everything the source needs to continue exactly (kept in checkpoints; at most
  /// max_state_words words).
  virtual std::vector<std::uint64_t> state() const = 0;
  /// Continues from words state() returned; throws std::invalid_argument for words it cannot
  /// have produced (checkpoints come from disk and the network).
  virtual void restore(std::span<const std::uint64_t> state) = 0;
  /// The number of samples of the shard, for logs (0: unknown, e.g. a stream).
  virtual std::size_t shard_size() const { return 0; }
};

/// The most words a batch_source's state() may hold: checkpoints and messages refuse more.
inline constexpr std::size_t max_state_words = 64;

/// A data set as the runtime sees it: the shards of the workers and the sets the server
/// evaluates on. Immutable once built; shared by the actors of a process (its const methods
/// may be called from several threads at once).
class data_source {
public:
  /// Destroys the data once no actor of the process holds it.
  virtual ~data_source() = default;
  /// Features per sample.
  virtual Eigen::Index input_dim() const = 0;
  /// Labels lie in [0, num_classes).
  virtual int num_classes() const = 0;
  /// Training samples (--epochs counts these; every worker needs at least one).
  virtual std::size_t train_size() const = 0;
  /// The batches of one worker's shard. Throws std::invalid_argument for a spec it cannot serve
  /// (an empty shard, batch 0).
  virtual std::unique_ptr<batch_source> open_shard(const shard_spec& shard) const = 0;
  /// The set the server evaluates test loss/accuracy on; nullptr: no evaluation.
  virtual const dataset* test_set() const { return nullptr; }
  /// The training samples for the closing training loss; nullptr: not reported.
  virtual const dataset* train_set() const { return nullptr; }
  /// For logs, e.g. "MNIST (60000 train / 10000 test, 784 features)".
  virtual std::string description() const = 0;
};

/// The built-in form: a train_test in memory, sharded by model/sharding and sampled by
/// minibatch_sampler exactly as `dsq` always did (state() = {epoch, position}).
std::shared_ptr<const data_source> in_memory_data(std::shared_ptr<const train_test> data);

} // namespace dsq
