#include "model/momentum.hpp"

#include <stdexcept>
#include <string>

namespace dsq {

namespace {

// The heavy-ball step on matching views of x, m and u: apply() and apply_slice() share it, so a
// slice is the same computation as the whole vector.
template <class X, class M>
void heavy_ball(X&& x, M&& m, const Eigen::VectorXf& u, float lr, float mu, bool nesterov) {
  if (mu == 0) {
    x -= lr * u;
    return;
  }
  m = mu * m + u;
  if (nesterov)
    x -= lr * (u + mu * m);
  else
    x -= lr * m;
}

} // namespace

momentum::momentum(std::size_t dim, float mu, bool nesterov)
    : buffer_(Eigen::VectorXf::Zero(static_cast<Eigen::Index>(dim))), mu_(mu), nesterov_(nesterov) {
  if (!(mu >= 0 && mu < 1))
    throw std::invalid_argument("momentum: mu must be in [0, 1), got " + std::to_string(mu));
}

void momentum::apply(Eigen::Ref<Eigen::VectorXf> x, const Eigen::VectorXf& u, float lr) {
  if (x.size() != buffer_.size() || u.size() != buffer_.size())
    throw std::invalid_argument("momentum::apply: dimension " + std::to_string(buffer_.size()) +
                                ", got x of " + std::to_string(x.size()) + " and u of " +
                                std::to_string(u.size()));
  heavy_ball(x, buffer_, u, lr, mu_, nesterov_);
}

void momentum::apply_slice(Eigen::Index begin, Eigen::Ref<Eigen::VectorXf> x,
                           const Eigen::VectorXf& u, float lr) {
  if (x.size() != u.size() || begin < 0 || begin + u.size() > buffer_.size())
    throw std::invalid_argument("momentum::apply_slice: slice [" + std::to_string(begin) + ", " +
                                std::to_string(begin + u.size()) + ") of a buffer of " +
                                std::to_string(buffer_.size()) + ", x of " +
                                std::to_string(x.size()));
  heavy_ball(x, buffer_.segment(begin, u.size()), u, lr, mu_, nesterov_);
}

} // namespace dsq
