#include "training/double_squeeze.hpp"

#include "compression/make_compressor.hpp"
#include "training/robust_aggregate.hpp"

#include <stdexcept>
#include <string>
#include <utility>

namespace dsq {

compression_pass::compression_pass(const std::string& spec, bool residual, std::size_t dim)
    : op_(make_compressor(spec)) {
  if (residual)
    feedback_.emplace(dim);
}

compressed_message compression_pass::compress(std::span<const float> g, rng_engine& rng) {
  compressed_message c;
  compress_into(g, rng, c);
  return c;
}

void compression_pass::compress_into(std::span<const float> g, rng_engine& rng,
                                     compressed_message& out) {
  if (feedback_)
    feedback_->compress_into(*op_, g, rng, out);
  else
    op_->compress_into(g, rng, out);
}

bool compression_pass::compress_mean_into(std::span<const compressed_message> pushes, float weight,
                                          compressed_message& out) {
  return feedback_ && feedback_->compress_mean_into(*op_, pushes, weight, out);
}

std::span<const float> compression_pass::residual() const {
  if (feedback_)
    return std::as_const(*feedback_).residual();
  return {};
}

void compression_pass::restore_residual(std::span<const float> delta) {
  if (!feedback_ || delta.empty())
    return;
  auto target = feedback_->residual();
  if (delta.size() != target.size())
    throw std::invalid_argument("restore_residual: dimension mismatch");
  std::copy(delta.begin(), delta.end(), target.begin());
}

compressed_message server_aggregate(std::span<const compressed_message> pushes, float weight,
                                    compression_pass& downlink, Eigen::VectorXf& average,
                                    rng_engine& rng) {
  std::vector<float> unused;
  return server_aggregate(pushes, weight, aggregate_rule{}, downlink, average, unused, rng);
}

compressed_message server_aggregate(std::span<const compressed_message> pushes, float weight,
                                    const aggregate_rule& rule, compression_pass& downlink,
                                    Eigen::VectorXf& average, std::vector<float>& scratch,
                                    rng_engine& rng) {
  compressed_message c;
  server_aggregate_into(pushes, weight, rule, downlink, average, scratch, rng, c);
  return c;
}

void server_aggregate_into(std::span<const compressed_message> pushes, float weight,
                           const aggregate_rule& rule, compression_pass& downlink,
                           Eigen::VectorXf& average, std::vector<float>& scratch, rng_engine& rng,
                           compressed_message& out) {
  if (pushes.empty())
    throw std::invalid_argument("server_aggregate: no pushes to average");
  std::span<float> avg{average.data(), static_cast<std::size_t>(average.size())};
  if (rule.kind == aggregate_kind::mean && downlink.compress_mean_into(pushes, weight, out))
    return; // v = w Σ c⁽ⁱ⁾ + δ; c = C[v]; δ ← v − c, the mean formed chunk by chunk
  if (rule.kind == aggregate_kind::mean) {
    // A = w Σ c⁽ⁱ⁾: the first push written onto zeros (one pass, the bits of zeroing then
    // adding), the others added.
    assign_scaled(pushes.front(), weight, avg);
    for (const auto& c : pushes.subspan(1))
      add_scaled(c, weight, avg);
  } else {
    robust_combine(rule, pushes, avg, scratch); // A = median or trimmed mean, per coordinate
  }
  downlink.compress_into(avg, rng, out); // v = A + δ; c = C[v]; δ ← v − c
}

void apply_update(const compressed_message& c, float lr, momentum* mom, Eigen::VectorXf& x,
                  Eigen::VectorXf& scratch) {
  if (mom == nullptr) {
    add_scaled(c, -lr, std::span<float>{x.data(), static_cast<std::size_t>(x.size())});
    return;
  }
  scratch.resize(x.size());
  decompress(c, std::span<float>{scratch.data(), static_cast<std::size_t>(scratch.size())});
  mom->apply(x, scratch, lr);
}

void apply_update_slice(const compressed_message& c, std::size_t begin, float lr, momentum* mom,
                        Eigen::VectorXf& x, Eigen::VectorXf& scratch) {
  const auto n = c.dimension();
  if (begin > static_cast<std::size_t>(x.size()) || n > static_cast<std::size_t>(x.size()) - begin)
    throw std::invalid_argument("apply_update_slice: a slice of " + std::to_string(n) +
                                " coordinates at " + std::to_string(begin) +
                                " does not fit a model of " + std::to_string(x.size()));
  if (mom == nullptr) {
    add_scaled(c, -lr, std::span<float>{x.data() + begin, n});
    return;
  }
  scratch.resize(static_cast<Eigen::Index>(n));
  decompress(c, std::span<float>{scratch.data(), n});
  mom->apply_slice(static_cast<Eigen::Index>(begin),
                   x.segment(static_cast<Eigen::Index>(begin), static_cast<Eigen::Index>(n)),
                   scratch, lr);
}

std::uint64_t replica_digest(const Eigen::VectorXf& x) {
  return replica_digest(std::span<const float>{x.data(), static_cast<std::size_t>(x.size())});
}

std::uint64_t replica_digest(std::span<const float> x) {
  // FNV-1a over 32-bit words, then a final mix: cheap next to a gradient, and any flipped bit
  // of any coordinate changes it.
  std::uint64_t h = 0xcbf29ce484222325ULL;
  const auto* words = reinterpret_cast<const std::uint32_t*>(x.data());
  for (std::size_t i = 0; i < x.size(); ++i)
    h = (h ^ words[i]) * 0x100000001b3ULL;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  return h == 0 ? 1 : h;
}

} // namespace dsq
