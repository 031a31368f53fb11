#pragma once

#include <dsq/dataset.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include <Eigen/Core>

namespace dsq {

/// Loss and accuracy of a model on some samples.
struct evaluation {
  double loss;     ///< mean loss, including the model's regularization like model::loss
  double accuracy; ///< fraction of samples classified correctly, in [0, 1]
};

/// A classifier whose parameters are one flat vector, the form in which gradients are
/// compressed, averaged and applied: the built-in models (softmax, mlp, cnn) and a program's
/// own (include/dsq/registry.hpp: register_model). Implementations view parts of the vector as
/// matrices through Eigen::Map instead of holding their own copies, so the vector is the whole
/// state. Inputs x are d x B, one sample per column; labels lie in [0, num_classes).
///
/// Writing one: derive from model and implement num_parameters(), input_dim(), num_classes(),
/// spec(), name() and the do_* methods (they may be private). The public methods check their
/// arguments once, here, and then call do_*: each throws std::invalid_argument if params, x, y,
/// grad or out have the wrong size, the batch is empty, or a label lies outside
/// [0, num_classes), naming the model and the method ("softmax_regression::loss: ..."), so a
/// do_* method may assume checked arguments.
///
/// What the runtime guarantees: each worker calls its model one call at a time, from one
/// thread, on buffers the worker owns (params and grad have num_parameters() entries, grad is
/// allocated once per run, never per step); the server's evaluator calls it from another
/// thread, so one instance may be in use by several threads at once, each on its own buffers.
/// The runtime checks what the model returns: a gradient with an entry that is not finite, or a
/// loss that is not finite, stops the worker (and the run) with an error naming the model spec,
/// the step and the likely fix.
///
/// What the model must guarantee: it is immutable after construction (no hidden state, no
/// caches written by const methods unless they are thread-safe and change no result), and the
/// same inputs give the same outputs bit for bit: initialize() from the same seed, loss and
/// gradient from the same params and batch. The runtime's exact resume and its replicas (every
/// worker applies the same updates) rely on it. Randomness comes from the seed only.
class model {
public:
  /// Destroys the model once no actor of the process holds it.
  virtual ~model() = default;

protected:
  /// Pins Eigen's product blocking, so that every model's numbers are the same on any machine
  /// with the build's instruction set.
  model();

public:
  /// The number of entries of the parameter vector.
  virtual std::size_t num_parameters() const = 0;

  /// The number of features of a sample (the rows of x).
  virtual Eigen::Index input_dim() const = 0;

  /// The number of classes; labels lie in [0, num_classes).
  virtual int num_classes() const = 0;

  /// Deterministic given the seed. params must already have num_parameters() entries.
  void initialize(Eigen::Ref<Eigen::VectorXf> params, std::uint64_t seed) const;

  /// Mean loss over the batch (e.g. cross-entropy + optional L2); writes the mean gradient into
  /// grad (sized num_parameters() by the caller).
  float loss_and_gradient(const Eigen::VectorXf& params, const Eigen::MatrixXf& x,
                          std::span<const std::int32_t> y, Eigen::Ref<Eigen::VectorXf> grad) const;

  /// Mean loss over the batch, as loss_and_gradient() computes it.
  float loss(const Eigen::VectorXf& params, const Eigen::MatrixXf& x,
             std::span<const std::int32_t> y) const;

  /// The most likely class of each column of x; out.size() must equal x.cols().
  void predict(const Eigen::VectorXf& params, const Eigen::MatrixXf& x,
               std::span<std::int32_t> out) const;

  /// The spec that builds an equal model (make_model, --model), e.g. "mlp:hidden=256,128".
  virtual std::string spec() const = 0;

  /// Loss and accuracy of one batch.
  evaluation evaluate_batch(const Eigen::VectorXf& params, const Eigen::MatrixXf& x,
                            std::span<const std::int32_t> y) const;

private:
  /// Throws std::invalid_argument naming the model and `method` unless params and x fit.
  void check_batch(const char* method, const Eigen::VectorXf& params,
                   const Eigen::MatrixXf& x) const;
  /// check_batch, and the labels y fit x and the classes.
  void check_labelled_batch(const char* method, const Eigen::VectorXf& params,
                            const Eigen::MatrixXf& x, std::span<const std::int32_t> y) const;

  /// The model's class name, which the argument errors start with.
  virtual const char* name() const = 0;

  /// initialize() with checked arguments.
  virtual void do_initialize(Eigen::Ref<Eigen::VectorXf> params, std::uint64_t seed) const = 0;
  /// loss_and_gradient() with checked arguments.
  virtual float do_loss_and_gradient(const Eigen::VectorXf& params, const Eigen::MatrixXf& x,
                                     std::span<const std::int32_t> y,
                                     Eigen::Ref<Eigen::VectorXf> grad) const = 0;
  /// loss() with checked arguments.
  virtual float do_loss(const Eigen::VectorXf& params, const Eigen::MatrixXf& x,
                        std::span<const std::int32_t> y) const = 0;
  /// predict() with checked arguments.
  virtual void do_predict(const Eigen::VectorXf& params, const Eigen::MatrixXf& x,
                          std::span<std::int32_t> out) const = 0;
  /// evaluate_batch() with checked arguments. The default calls do_loss() and do_predict(); the
  /// built-in models override it to share one forward pass between the two.
  virtual evaluation do_evaluate_batch(const Eigen::VectorXf& params, const Eigen::MatrixXf& x,
                                       std::span<const std::int32_t> y) const;
};

/// Evaluates loss and accuracy on a whole data set in chunks (bounded memory). An empty data set
/// gives {0, 0}.
evaluation evaluate(const model& m, const Eigen::VectorXf& params, const dataset& data);

} // namespace dsq
