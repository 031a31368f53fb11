#pragma once

// A program's own model and data, written against the public headers only (<dsq/...>), as a
// user of the library writes them: a least-squares classifier and data generated from the
// seed with a sampler of its own. Registered by name ("lsq", "lsq_nan", "blobs") for the tests
// of the runtime's interfaces.

#include <dsq/data.hpp>
#include <dsq/model.hpp>
#include <dsq/registry.hpp>
#include <dsq/spec_args.hpp>

#include <Eigen/Core>

#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>

namespace user {

/// splitmix64: the user's own random numbers.
inline std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

/// A uniform number in [0, 1) from a 64-bit word.
inline double unit(std::uint64_t bits) {
  return static_cast<double>(bits >> 11) * 0x1.0p-53;
}

/// A standard normal number from two words (Box-Muller).
inline double normal(std::uint64_t a, std::uint64_t b) {
  return std::sqrt(-2.0 * std::log(1.0 - unit(a))) * std::cos(6.283185307179586 * unit(b));
}

/// Scores s = W x + b for k classes, trained to the one-hot label by the mean squared error
/// 1/(2B) Σ ||s - e_y||² + l2/2 ||W||²; predicts the largest score. `broken`: writes NaN into
/// the first gradient entry, as a model with a bug would.
class least_squares final : public dsq::model {
public:
  least_squares(std::string spec, Eigen::Index d, int k, float l2, bool broken)
      : spec_(std::move(spec)), d_(d), k_(k), l2_(l2), broken_(broken) {}

  std::size_t num_parameters() const override { return std::size_t(k_) * std::size_t(d_ + 1); }
  Eigen::Index input_dim() const override { return d_; }
  int num_classes() const override { return k_; }
  std::string spec() const override { return spec_; }

private:
  const char* name() const override { return "least_squares"; }

  void do_initialize(Eigen::Ref<Eigen::VectorXf> params, std::uint64_t seed) const override {
    for (Eigen::Index i = 0; i < params.size(); ++i)
      params[i] = static_cast<float>(0.02 * unit(mix(seed ^ mix(std::uint64_t(i)))) - 0.01);
  }

  /// The residuals S - Y of a batch.
  Eigen::MatrixXf residuals(const Eigen::VectorXf& params, const Eigen::MatrixXf& x,
                            std::span<const std::int32_t> y) const {
    Eigen::Map<const Eigen::MatrixXf> w(params.data(), k_, d_);
    Eigen::Map<const Eigen::VectorXf> b(params.data() + k_ * d_, k_);
    Eigen::MatrixXf r = w * x;
    r.colwise() += b;
    for (std::size_t j = 0; j < y.size(); ++j)
      r(y[j], Eigen::Index(j)) -= 1.0f;
    return r;
  }

  float do_loss_and_gradient(const Eigen::VectorXf& params, const Eigen::MatrixXf& x,
                             std::span<const std::int32_t> y,
                             Eigen::Ref<Eigen::VectorXf> grad) const override {
    const auto r = residuals(params, x, y);
    const float inv_b = 1.0f / static_cast<float>(x.cols());
    Eigen::Map<const Eigen::MatrixXf> w(params.data(), k_, d_);
    Eigen::Map<Eigen::MatrixXf> gw(grad.data(), k_, d_);
    gw = inv_b * (r * x.transpose()) + l2_ * w;
    grad.segment(k_ * d_, k_) = inv_b * r.rowwise().sum();
    if (broken_)
      grad[0] = std::numeric_limits<float>::quiet_NaN();
    return 0.5f * inv_b * r.squaredNorm() + 0.5f * l2_ * w.squaredNorm();
  }

  float do_loss(const Eigen::VectorXf& params, const Eigen::MatrixXf& x,
                std::span<const std::int32_t> y) const override {
    Eigen::Map<const Eigen::MatrixXf> w(params.data(), k_, d_);
    return 0.5f / static_cast<float>(x.cols()) * residuals(params, x, y).squaredNorm() +
           0.5f * l2_ * w.squaredNorm();
  }

  void do_predict(const Eigen::VectorXf& params, const Eigen::MatrixXf& x,
                  std::span<std::int32_t> out) const override {
    Eigen::Map<const Eigen::MatrixXf> w(params.data(), k_, d_);
    Eigen::Map<const Eigen::VectorXf> b(params.data() + k_ * d_, k_);
    Eigen::MatrixXf s = w * x;
    s.colwise() += b;
    for (Eigen::Index j = 0; j < s.cols(); ++j)
      s.col(j).maxCoeff(&out[std::size_t(j)]);
  }

  std::string spec_;
  Eigen::Index d_;
  int k_;
  float l2_;
  bool broken_;
};

/// Sample i of the blobs: class i % k, features around the class's centre.
inline void blob_sample(std::uint64_t seed, std::uint64_t i, Eigen::Index d, int k,
                        Eigen::Ref<Eigen::VectorXf> out, std::int32_t& label) {
  label = static_cast<std::int32_t>(i % std::uint64_t(k));
  for (Eigen::Index f = 0; f < d; ++f) {
    const auto centre = 2.0 * normal(mix(seed ^ mix(std::uint64_t(label) * 977 + std::uint64_t(f))),
                                     mix(seed + 17 * std::uint64_t(f) + std::uint64_t(label)));
    const auto noise = normal(mix(mix(seed) ^ (i * 8191 + std::uint64_t(f))),
                              mix(mix(seed + 1) ^ (i * 131 + std::uint64_t(f))));
    out[f] = static_cast<float>(centre + 0.5 * noise);
  }
}

/// A worker's batches: each drawn with replacement from its contiguous share of the samples,
/// by a counter hashed with the shard. State: {counter, tag of the shard}.
class blob_batches final : public dsq::batch_source {
public:
  blob_batches(std::uint64_t data_seed, std::uint64_t n, Eigen::Index d, int k,
               const dsq::shard_spec& shard, bool lies = false)
      : data_seed_(data_seed), d_(d), k_(k), lies_(lies), batch_(shard.batch),
        begin_(n * shard.index / shard.count), end_(n * (shard.index + 1) / shard.count),
        tag_(mix(mix(mix(shard.seed ^ shard.generation) ^ shard.worker) ^
                 (std::uint64_t(shard.index) << 32 | shard.count))) {
    if (begin_ == end_ || batch_ == 0)
      throw std::invalid_argument("blobs: an empty shard or batch");
  }

  void next(Eigen::MatrixXf& x, std::vector<std::int32_t>& y) override {
    x.resize(d_, Eigen::Index(batch_));
    y.resize(batch_);
    for (std::size_t j = 0; j < batch_; ++j) {
      const auto i = begin_ + mix(tag_ ^ counter_++) % (end_ - begin_);
      blob_sample(data_seed_, i, d_, k_, x.col(Eigen::Index(j)), y[j]);
      if (lies_) { // a liar's shard: features ten times as large, labels shifted by one
        x.col(Eigen::Index(j)) *= 10.0f;
        y[j] = (y[j] + 1) % k_;
      }
    }
  }

  std::vector<std::uint64_t> state() const override { return {counter_, tag_}; }

  void restore(std::span<const std::uint64_t> words) override {
    if (words.size() != 2 || words[1] != tag_)
      throw std::invalid_argument("blobs: these state words are not this shard's");
    counter_ = words[0];
  }

  std::size_t shard_size() const override { return std::size_t(end_ - begin_); }

private:
  std::uint64_t data_seed_;
  Eigen::Index d_;
  int k_;
  bool lies_;
  std::size_t batch_;
  std::uint64_t begin_, end_, tag_;
  std::uint64_t counter_ = 0;
};

/// n training samples generated on demand (no train_set()), a test set of 200 in memory.
class blobs final : public dsq::data_source {
public:
  /// `liar`: the shard index whose batches lie (none: no liar).
  blobs(std::uint64_t seed, std::uint64_t n, Eigen::Index d, int k,
        std::optional<std::uint64_t> liar = std::nullopt)
      : seed_(seed), n_(n), d_(d), k_(k), liar_(liar) {
    test_.num_classes = k;
    test_.features.resize(d, 200);
    test_.labels.resize(200);
    for (std::uint64_t i = 0; i < 200; ++i)
      blob_sample(seed_, n_ + i, d_, k_, test_.features.col(Eigen::Index(i)), test_.labels[i]);
  }
  Eigen::Index input_dim() const override { return d_; }
  int num_classes() const override { return k_; }
  std::size_t train_size() const override { return n_; }
  std::unique_ptr<dsq::batch_source> open_shard(const dsq::shard_spec& shard) const override {
    return std::make_unique<blob_batches>(seed_, n_, d_, k_, shard, liar_ == shard.index);
  }
  const dsq::dataset* test_set() const override { return &test_; }
  std::string description() const override { return "blobs (generated)"; }

private:
  std::uint64_t seed_, n_;
  Eigen::Index d_;
  int k_;
  std::optional<std::uint64_t> liar_;
  dsq::dataset test_;
};

/// Registers "lsq[:l2=X]", "lsq_nan" and "blobs[:n=N][,d=D][,classes=K][,liar=I]" once per
/// process (liar: the worker with shard I trains on lying data, for the robust rules' tests).
inline void register_plugins() {
  static std::once_flag once;
  std::call_once(once, [] {
    auto make = [](bool broken) {
      return [broken](const dsq::spec_args& args, Eigen::Index d, int k) {
        const auto l2 = args.number("l2", 0.0);
        return std::make_unique<least_squares>(args.text(), d, k, static_cast<float>(l2), broken);
      };
    };
    dsq::register_model("lsq", make(false));
    dsq::register_model("lsq_nan", make(true));
    dsq::register_dataset("blobs", [](const dsq::spec_args& args, const dsq::data_context& ctx) {
      const auto n = args.count("n", 600);
      const auto d = args.count("d", 8);
      const auto k = args.count("classes", 3);
      if (k < 2 || d == 0 || n == 0)
        throw dsq::spec_error(args.error("needs n, d >= 1 and classes >= 2"));
      std::optional<std::uint64_t> liar;
      if (args.has("liar"))
        liar = args.count("liar");
      return std::make_shared<const blobs>(ctx.seed, n, Eigen::Index(d), int(k), liar);
    });
  });
}

} // namespace user
