#include "training/worker_engine.hpp"

#include "compression/finite.hpp"
#include "compression/sign.hpp"
#include "compression/wire.hpp"
#include "config/method.hpp"
#include "training/shard/range_operator.hpp"
#include "training/shard/sliced_payload.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace dsq {

namespace {

/// The first entry of `grad` that is not finite, as "NaN at index 17".
std::string first_bad_entry(const Eigen::VectorXf& grad) {
  for (Eigen::Index i = 0; i < grad.size(); ++i)
    if (!std::isfinite(grad[i]))
      return fmt::format("{} at index {}", grad[i], i);
  return "none";
}

std::size_t checked_dim(const training_setup& setup, std::span<const float> model) {
  const auto d = setup.net->num_parameters();
  if (model.size() != d)
    throw std::runtime_error(fmt::format("the server's model has {} parameters, this worker's "
                                         "{} (different data or model?)",
                                         model.size(), d));
  return d;
}

} // namespace

worker_engine::worker_engine(const run_config& cfg, training_setup setup, std::uint32_t id,
                             std::uint64_t version, std::span<const float> model,
                             std::span<const float> momentum_buffer, const shard_assignment& shard)
    : cfg_(cfg), setup_(std::move(setup)), source_(data_of(setup_)), id_(id), version_(version),
      // δ⁽ⁱ⁾ starts at zero, also for a worker that joins mid-run (docs/algorithm.md, membership).
      uplink_(resolve_method(cfg).uplink, resolve_method(cfg).uplink_residual,
              checked_dim(setup_, model)),
      schedule_(parse_lr_schedule(cfg.lr_schedule)), rng_(mix_seed(cfg.seed, 1000 + id)) {
  const auto d = static_cast<Eigen::Index>(model.size());
  x_ = Eigen::Map<const Eigen::VectorXf>(model.data(), d);
  grad_.resize(d);
  if (cfg.momentum > 0) {
    mom_.emplace(model.size(), static_cast<float>(cfg.momentum));
    if (momentum_buffer.size() == model.size())
      mom_->buffer() = Eigen::Map<const Eigen::VectorXf>(momentum_buffer.data(), d);
  }
  use_shard(shard);
}

std::unique_ptr<batch_source> worker_engine::open(const shard_assignment& shard) const {
  shard_spec spec;
  spec.index = shard.index;
  spec.count = shard.count;
  spec.generation = shard.generation;
  spec.batch = cfg_.batch;
  spec.seed = cfg_.seed;
  spec.shuffled = cfg_.shard != "contiguous";
  spec.worker = id_;
  return source_->open_shard(spec);
}

void worker_engine::use_shard(const shard_assignment& shard) {
  // Generations only grow, so an equal assignment is the same one again (after restore()),
  // never a new one: starting its sampler over would lose the restored position.
  if (batches_ && shard == shard_)
    return;
  batches_ = open(shard);
  shard_ = shard;
}

void worker_engine::use_ranges(std::span<const key_range> ranges) {
  const auto d = static_cast<std::uint64_t>(x_.size());
  if (ranges.size() <= 1) {
    if (ranges.size() == 1 && (ranges[0].begin != 0 || ranges[0].end != d))
      throw std::runtime_error(fmt::format("the server's one key range [{}, {}) is not the "
                                           "model's {} coordinates",
                                           ranges[0].begin, ranges[0].end, d));
    if (!ranges_.empty()) { // back to one range: δ⁽ⁱ⁾ is the ranges' residuals, joined
      const auto joined = residual();
      const std::vector<float> delta(joined.begin(), joined.end());
      uplink_.restore_residual(delta);
      ranges_.clear();
      range_passes_.clear();
    }
    return;
  }
  std::uint64_t next = 0;
  for (const auto& r : ranges) {
    if (r.begin != next || r.end <= r.begin || r.end > d)
      throw std::runtime_error(fmt::format(
          "the server's key ranges do not split the model's {} coordinates: [{}, {}) where "
          "[{}, ...) was due (different model, or a server of another version?)",
          d, r.begin, r.end, next));
    next = r.end;
  }
  if (next != d)
    throw std::runtime_error(fmt::format(
        "the server's key ranges end at {}, the model has {} coordinates (different model?)", next,
        d));
  const auto delta_now = residual();
  const std::vector<float> delta(delta_now.begin(), delta_now.end());
  auto passes = range_passes(uplink_.op().spec(), uplink_.has_residual(), d, ranges);
  if (!delta.empty())
    for (std::size_t k = 0; k < ranges.size(); ++k)
      passes[k].restore_residual(
          std::span<const float>{delta}.subspan(ranges[k].begin, ranges[k].size()));
  ranges_.assign(ranges.begin(), ranges.end());
  range_passes_ = std::move(passes);
}

std::span<const float> worker_engine::residual() const {
  if (ranges_.empty() || !uplink_.has_residual())
    return uplink_.residual();
  joined_residual_.resize(static_cast<std::size_t>(x_.size()));
  for (std::size_t k = 0; k < ranges_.size(); ++k) {
    const auto part = range_passes_[k].residual();
    std::copy(part.begin(), part.end(), joined_residual_.begin() + ranges_[k].begin);
  }
  return joined_residual_;
}

worker_snapshot worker_engine::snapshot() const {
  worker_snapshot s;
  s.worker_id = id_;
  s.version = version_;
  auto delta = residual(); // sharded: the ranges' residuals in range order, one vector as ever
  s.residual.assign(delta.begin(), delta.end());
  auto words = rng_.state();
  s.rng.assign(words.begin(), words.end());
  s.shard = shard_;
  s.sampler_state = batches_->state();
  return s;
}

void worker_engine::restore(const worker_snapshot& state) {
  auto fail = [&](const std::string& problem) {
    throw std::runtime_error(
        fmt::format("cannot restore worker {} from its saved state: {}", id_, problem));
  };
  if (state.worker_id != id_)
    fail(fmt::format("the state is worker {}'s", state.worker_id));
  if (state.version != version_)
    fail(fmt::format("the state is of step {}, the replica holds the model of step {}",
                     state.version, version_));
  const auto d = static_cast<std::size_t>(x_.size());
  if (uplink_.has_residual() && state.residual.size() != d)
    fail(fmt::format("its residual has {} values, the model {} parameters", state.residual.size(),
                     d));
  if (!uplink_.has_residual() && !state.residual.empty())
    fail("it holds a residual, but this run's uplink keeps none");
  if (state.rng.size() != 4)
    fail(fmt::format("its random stream has {} words instead of 4", state.rng.size()));
  std::array<std::uint64_t, 4> words{state.rng[0], state.rng[1], state.rng[2], state.rng[3]};
  rng_engine rng;
  try {
    rng.set_state(words);
  } catch (const std::invalid_argument& e) {
    fail(e.what());
  }
  if (state.shard.count == 0 || state.shard.index >= state.shard.count)
    fail(fmt::format("shard {} of {} does not exist", state.shard.index, state.shard.count));
  // Everything that can fail before anything changes: the engine is left as it was.
  if (state.sampler_state.size() > max_state_words)
    fail(fmt::format("its sampler state has {} words, more than {}", state.sampler_state.size(),
                     max_state_words));
  std::unique_ptr<batch_source> batches;
  try {
    batches = open(state.shard);
    batches->restore(state.sampler_state);
  } catch (const std::invalid_argument& e) {
    fail(e.what());
  }
  if (ranges_.empty())
    uplink_.restore_residual(state.residual);
  else if (!state.residual.empty())
    for (std::size_t k = 0; k < ranges_.size(); ++k)
      range_passes_[k].restore_residual(
          std::span<const float>{state.residual}.subspan(ranges_[k].begin, ranges_[k].size()));
  rng_ = rng;
  batches_ = std::move(batches);
  shard_ = state.shard;
}

void worker_engine::reset_model(std::uint64_t version, std::span<const float> model,
                                std::span<const float> momentum) {
  const auto d = static_cast<std::size_t>(x_.size());
  if (model.size() != d)
    throw std::runtime_error(fmt::format(
        "resync: the server's model has {} parameters, this worker's {}", model.size(), d));
  if (mom_ && !momentum.empty() && momentum.size() != d)
    throw std::runtime_error(
        fmt::format("resync: the server's momentum buffer has {} values, the model {} parameters",
                    momentum.size(), d));
  const auto n = static_cast<Eigen::Index>(d);
  x_ = Eigen::Map<const Eigen::VectorXf>(model.data(), n);
  if (mom_) {
    if (momentum.empty())
      mom_->buffer().setZero();
    else
      mom_->buffer() = Eigen::Map<const Eigen::VectorXf>(momentum.data(), n);
  }
  version_ = version;
}

computed_gradient worker_engine::compute() {
  batches_->next(batch_x_, batch_y_);
  computed_gradient out;
  out.step = version_;
  out.loss = setup_.net->loss_and_gradient(x_, batch_x_, batch_y_, grad_);
  // The model may be a program's own: what it returns is checked before it reaches the residual,
  // the server and the other replicas, where a NaN would spread and end the run far from its
  // cause. Training that diverged returns such values too, and the server tells it (its
  // divergence probe, exit status 3); a model that fails on this batch at its initial
  // parameters as well is broken, not diverged.
  const std::span<const float> g{grad_.data(), static_cast<std::size_t>(grad_.size())};
  const auto bad_output = [&] { return !std::isfinite(out.loss) || !all_finite(g); };
  // Sign's block magnitudes sum |v| over every coordinate of its input v (g, or g + δ⁽ⁱ⁾):
  // one is finite only if each of those is, so a non-finite g shows in them, and the check
  // rides on the operator's pass instead of reading g once more (a pass of 13 MB for the CNN).
  const bool checked_by_operator =
      ranges_.empty() && dynamic_cast<const sign_compressor*>(&uplink_.op()) != nullptr;
  if (!checked_by_operator && bad_output())
    check_model_at_start(out.loss);
  if (ranges_.empty()) {
    uplink_.compress_into(g, rng_, push_);
    if (checked_by_operator &&
        (!std::isfinite(out.loss) || !all_finite(std::span<const float>{push_.values})) &&
        bad_output())
      check_model_at_start(out.loss);
    to_bytes(push_, spare_payload_);
    out.payload = std::move(spare_payload_);
    spare_payload_ = {};
    return out;
  }
  // Sharded: each range on its own, in range order, all from the one random stream.
  out.payload = compress_slices(range_passes_, ranges_, g, rng_);
  return out;
}

void worker_engine::recycle_payload(std::vector<std::uint8_t> bytes) noexcept {
  if (bytes.capacity() > spare_payload_.capacity())
    spare_payload_ = std::move(bytes);
}

void worker_engine::check_model_at_start(float loss) const {
  const auto& net = *setup_.net;
  Eigen::VectorXf x0(x_.size()), g0(x_.size());
  net.initialize(x0, cfg_.seed);
  const auto loss0 = net.loss_and_gradient(x0, batch_x_, batch_y_, g0);
  if (std::isfinite(loss0) && g0.allFinite())
    return; // diverged: the push goes, and the server ends the run as diverged
  const auto what = std::isfinite(loss)
                        ? fmt::format("a gradient that is not finite ({})", first_bad_entry(grad_))
                        : fmt::format("a loss of {}", loss);
  throw model_output_error(
      fmt::format("worker {}: model '{}' returned {} at step {}, and on the same batch at its "
                  "initial parameters too: its loss_and_gradient is broken; fix the model "
                  "(check it with a gradient test) before training",
                  id_, net.spec(), what, version_));
}

void worker_engine::apply(std::span<const std::uint8_t> payload) {
  if (!ranges_.empty()) {
    apply_slices(payload);
    return;
  }
  decode_limits limits;
  limits.max_dimension = static_cast<std::uint32_t>(x_.size());
  from_bytes_into(payload, update_, limits);
  const compressed_message& c = update_;
  if (c.dimension() != static_cast<std::size_t>(x_.size()))
    throw std::runtime_error("update of the wrong dimension from the server");
  float lr = schedule_.at(version_, static_cast<float>(cfg_.lr));
  try {
    // Decodes before it touches x or the momentum: a refused update changes nothing.
    apply_update(c, lr, mom_ ? &*mom_ : nullptr, x_, scratch_);
  } catch (const std::invalid_argument& e) {
    // Only a registered operator's own decoder refuses what from_bytes let through.
    throw std::runtime_error(std::string{"update from the server refused: "} + e.what());
  }
  ++version_;
}

void worker_engine::apply_slices(std::span<const std::uint8_t> payload) {
  std::vector<std::span<const std::uint8_t>> slices;
  try {
    slices = split_slices(payload, static_cast<std::uint32_t>(ranges_.size()));
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(std::string{"update from the servers refused: "} + e.what());
  }
  // Every slice decodes before x or the momentum changes: a refused update changes nothing.
  std::vector<compressed_message> parts;
  parts.reserve(slices.size());
  for (std::size_t k = 0; k < slices.size(); ++k) {
    decode_limits limits;
    limits.max_dimension = static_cast<std::uint32_t>(ranges_[k].size());
    auto c = from_bytes(slices[k], limits);
    if (c.dimension() != ranges_[k].size())
      throw std::runtime_error(fmt::format("update of the wrong dimension from shard {} ({} "
                                           "coordinates, its range has {})",
                                           k, c.dimension(), ranges_[k].size()));
    if (c.op == operator_id::custom) {
      // A registered operator's own decoder may still refuse it: ask now, not halfway through.
      std::vector<float> probe(c.dimension());
      try {
        decompress(c, probe);
      } catch (const std::invalid_argument& e) {
        throw std::runtime_error(fmt::format("update from shard {} refused: {}", k, e.what()));
      }
    }
    parts.push_back(std::move(c));
  }
  const float lr = schedule_.at(version_, static_cast<float>(cfg_.lr));
  try {
    for (std::size_t k = 0; k < parts.size(); ++k)
      apply_update_slice(parts[k], ranges_[k].begin, lr, mom_ ? &*mom_ : nullptr, x_, scratch_);
  } catch (const std::invalid_argument& e) {
    // Only a registered operator's own decoder refuses what from_bytes let through.
    throw std::runtime_error(std::string{"update from the servers refused: "} + e.what());
  }
  ++version_;
}

} // namespace dsq
