#include "model/momentum.hpp"

#include <stdexcept>
#include <string>

namespace dsq {

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
  if (mu_ == 0) {
    x -= lr * u;
    return;
  }
  buffer_ = mu_ * buffer_ + u;
  if (nesterov_)
    x -= lr * (u + mu_ * buffer_);
  else
    x -= lr * buffer_;
}

} // namespace dsq
