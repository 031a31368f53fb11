#include "training/divergence_probe.hpp"

#include "model/minibatch_sampler.hpp"

#include <algorithm>
#include <cmath>

namespace dsq {

divergence_probe::divergence_probe(std::shared_ptr<const model> net, const dataset& train,
                                   std::uint64_t seed)
    : net_(std::move(net)), seed_(seed) {
  const std::size_t n = std::min(probe_samples, train.size());
  std::vector<std::size_t> idx(n);
  // Evenly spaced, so that a set stored sorted by class gives a probe of every class.
  for (std::size_t k = 0; k < n; ++k)
    idx[k] = k * train.size() / n;
  gather(train, idx, x_, y_);
}

double divergence_probe::loss(const Eigen::VectorXf& x) const {
  if (y_.empty())
    return 0;
  return net_->loss(x, x_, y_);
}

double divergence_probe::initial_loss() const {
  if (!initial_) {
    Eigen::VectorXf x0(static_cast<Eigen::Index>(net_->num_parameters()));
    net_->initialize(x0, seed_);
    initial_ = loss(x0);
  }
  return *initial_;
}

bool divergence_probe::diverged(double probe_loss) const {
  // A start with a loss of about 0 (no such model here) must not make every model diverged.
  return !std::isfinite(probe_loss) ||
         probe_loss > probe_loss_factor * std::max(initial_loss(), 1e-3);
}

bool divergence_probe::evaluation_diverged(double test_loss) const {
  return !std::isfinite(test_loss) ||
         test_loss > evaluated_loss_factor * std::max(initial_loss(), 1e-3);
}

} // namespace dsq
