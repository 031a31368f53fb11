#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include <Eigen/Core>

#include "model/dataset.hpp"
#include "model/product_blocking.hpp"

namespace dsq {

struct evaluation {
  double loss;     // mean loss, including the model's L2 term like model::loss
  double accuracy; // fraction of samples classified correctly, in [0, 1]
};

// A classifier whose parameters are one flat vector, the form in which gradients are
// compressed, averaged and applied. Implementations view parts of the vector as matrices
// through Eigen::Map instead of holding their own copies, so the vector is the whole state.
//
// Inputs x are d x B, one sample per column. Models are immutable after construction, so one
// instance may be used from several threads at once.
//
// The public methods check their arguments once, here, and then call the model's private
// do_* method: each throws std::invalid_argument if params, x, y, grad or out have the wrong
// size, the batch is empty, or a label lies outside [0, num_classes), naming the model and the
// method ("softmax_regression::loss: ..."). A model implements the do_* methods and may assume
// checked arguments.
class model {
public:
  virtual ~model() = default;

protected:
  /// Pins Eigen's product blocking (product_blocking.hpp), so that every model's numbers are
  /// the same on any machine with the build's instruction set.
  model() { pin_product_blocking(); }

public:
  /// The number of entries of the parameter vector.
  virtual std::size_t num_parameters() const = 0;

  /// The number of features of a sample (the rows of x).
  virtual Eigen::Index input_dim() const = 0;

  /// The number of classes; labels lie in [0, num_classes).
  virtual int num_classes() const = 0;

  /// Deterministic given the seed. params must already have num_parameters() entries.
  void initialize(Eigen::Ref<Eigen::VectorXf> params, std::uint64_t seed) const;

  /// Mean loss over the batch (cross-entropy + optional L2); writes the mean gradient into grad
  /// (resized by caller to num_parameters()).
  float loss_and_gradient(const Eigen::VectorXf& params, const Eigen::MatrixXf& x,
                          std::span<const std::int32_t> y, Eigen::Ref<Eigen::VectorXf> grad) const;

  /// Mean loss over the batch (cross-entropy + optional L2).
  float loss(const Eigen::VectorXf& params, const Eigen::MatrixXf& x,
             std::span<const std::int32_t> y) const;

  /// The most likely class of each column of x; out.size() must equal x.cols().
  void predict(const Eigen::VectorXf& params, const Eigen::MatrixXf& x,
               std::span<std::int32_t> out) const;

  /// The spec that make_model() turns back into an equal model, e.g. "mlp:hidden=256,128".
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

  /// The methods above, with arguments already checked.
  virtual void do_initialize(Eigen::Ref<Eigen::VectorXf> params, std::uint64_t seed) const = 0;
  virtual float do_loss_and_gradient(const Eigen::VectorXf& params, const Eigen::MatrixXf& x,
                                     std::span<const std::int32_t> y,
                                     Eigen::Ref<Eigen::VectorXf> grad) const = 0;
  virtual float do_loss(const Eigen::VectorXf& params, const Eigen::MatrixXf& x,
                        std::span<const std::int32_t> y) const = 0;
  virtual void do_predict(const Eigen::VectorXf& params, const Eigen::MatrixXf& x,
                          std::span<std::int32_t> out) const = 0;
  /// The default calls do_loss() and do_predict(); the models of this library override it to
  /// share one forward pass between the two.
  virtual evaluation do_evaluate_batch(const Eigen::VectorXf& params, const Eigen::MatrixXf& x,
                                       std::span<const std::int32_t> y) const;
};

// Evaluates loss and accuracy on a whole data set in chunks (bounded memory).
// An empty data set gives {0, 0}.
evaluation evaluate(const model& m, const Eigen::VectorXf& params, const dataset& data);

} // namespace dsq
