#pragma once

#include <cstddef>

#include <Eigen/Core>

namespace dsq {

// Heavy-ball momentum applied to an update direction u (a gradient, or the compressed update
// of DoubleSqueeze, so that every replica applying the same u stays identical):
//   m = mu * m + u;   x -= lr * m                 (classic)
//   m = mu * m + u;   x -= lr * (u + mu * m)      (Nesterov)
// With mu = 0 both are exactly x -= lr * u, bit for bit: apply() takes the plain SGD path
// then, so that a momentum-free run is the same computation as one without this class.
class momentum {
public:
  // Throws std::invalid_argument unless 0 <= mu < 1.
  momentum(std::size_t dim, float mu, bool nesterov = false);

  // Throws std::invalid_argument if x or u do not have the buffer's dimension.
  void apply(Eigen::Ref<Eigen::VectorXf> x, const Eigen::VectorXf& u, float lr);

  // The same step on the coordinates [begin, begin + u.size()) alone: x is that slice of the
  // replica, and only that slice of m moves. A sharded run (--servers=K) applies each shard's
  // slice update so; the arithmetic is apply()'s, coordinate by coordinate, so the slices of K
  // shards give bit for bit what one update of the whole vector would. Throws
  // std::invalid_argument if x and u differ in size or the slice does not fit the buffer.
  void apply_slice(Eigen::Index begin, Eigen::Ref<Eigen::VectorXf> x, const Eigen::VectorXf& u,
                   float lr);

  // The velocity m, for checkpoints and for tests.
  Eigen::VectorXf& buffer() { return buffer_; }
  const Eigen::VectorXf& buffer() const { return buffer_; }

  float mu() const { return mu_; }
  bool nesterov() const { return nesterov_; }

private:
  Eigen::VectorXf buffer_;
  float mu_;
  bool nesterov_;
};

} // namespace dsq
