#include "config/run_config.hpp"

#include "compression/make_compressor.hpp"
#include "config/method.hpp"
#include "config/run_limits.hpp"
#include "model/lr_schedule.hpp"

#include <cmath>
#include <limits>
#include <sstream>

namespace dsq {

namespace {

/// A double as a user would write it: "1e+39", not std::to_string's forty digits.
std::string shown(double x) {
  std::ostringstream out;
  out << x;
  return out.str();
}

void check_at_most(std::uint64_t value, std::uint64_t limit, const char* option) {
  if (value > limit)
    throw config_error("--" + std::string{option} + "=" + std::to_string(value) +
                       ": more than the limit of " + std::to_string(limit));
}

/// Values that fit their option's type but would overflow where they are used
/// (config/run_limits.hpp).
void check_limits(const run_config& cfg) {
  // The model and the step size are float: a step size beyond float's range is infinite there,
  // one below its smallest value is 0.
  const auto lr = static_cast<float>(cfg.lr);
  if (!std::isfinite(lr))
    throw config_error("--lr=" + shown(cfg.lr) + ": beyond the largest float (" +
                       shown(std::numeric_limits<float>::max()) + "), the type of the model");
  if (!(lr > 0))
    throw config_error("--lr=" + shown(cfg.lr) + ": rounds to 0 as a float");
  if (cfg.steps > 0)
    check_at_most(static_cast<std::uint64_t>(cfg.steps), max_steps, "steps");
  if (cfg.epochs > max_epochs)
    throw config_error("--epochs=" + shown(cfg.epochs) + ": more than the limit of " +
                       shown(max_epochs));
  check_at_most(cfg.workers, max_worker_count, "workers");
  check_at_most(cfg.min_workers, max_worker_count, "min-workers");
  check_at_most(cfg.max_workers, max_worker_count, "max-workers");
  check_at_most(cfg.batch, max_batch, "batch");
  check_at_most(cfg.connect_timeout_s, max_connect_timeout_s, "connect-timeout");
}

void check_compressor(const std::string& spec, const char* option) {
  try {
    make_compressor(spec);
  } catch (const std::exception& e) {
    throw config_error(std::string{"--"} + option + "=" + spec + ": " + e.what());
  }
}

} // namespace

void validate(const run_config& cfg) {
  auto m = resolve_method(cfg);
  check_compressor(cfg.compressor, "compressor");
  check_compressor(m.uplink, "uplink");
  check_compressor(m.downlink, "downlink");
  if (cfg.mode != "sync")
    throw config_error("--mode=" + cfg.mode + ": only sync is implemented so far");
  if (cfg.workers == 0)
    throw config_error("--workers=0: at least one worker is needed");
  if (cfg.batch == 0)
    throw config_error("--batch=0: the minibatch needs at least one sample");
  if (!(cfg.lr > 0) || !std::isfinite(cfg.lr))
    throw config_error("--lr=" + std::to_string(cfg.lr) + ": the step size must be positive");
  if (!(cfg.momentum >= 0 && cfg.momentum < 1))
    throw config_error("--momentum=" + std::to_string(cfg.momentum) + ": expected 0 <= m < 1");
  if (cfg.steps < -1)
    throw config_error("--steps=" + std::to_string(cfg.steps) + ": must be 0 or more");
  if (cfg.steps >= 0 && cfg.epochs > 0)
    throw config_error("--steps and --epochs both given: choose one");
  if (cfg.epochs < 0 || !std::isfinite(cfg.epochs))
    throw config_error("--epochs=" + std::to_string(cfg.epochs) + ": must be positive");
  if (cfg.shard != "contiguous" && cfg.shard != "shuffled")
    throw config_error("--shard=" + cfg.shard + ": expected contiguous or shuffled");
  try {
    parse_lr_schedule(cfg.lr_schedule);
  } catch (const std::exception& e) {
    throw config_error("--lr-schedule=" + cfg.lr_schedule + ": " + e.what());
  }
  check_limits(cfg);
  if (cfg.max_workers > 0 && cfg.max_workers < std::max(cfg.min_workers, std::uint64_t{1}))
    throw config_error("--max-workers is below --min-workers");
}

std::uint64_t total_steps(const run_config& cfg, std::size_t train_size) {
  if (cfg.steps >= 0)
    return static_cast<std::uint64_t>(cfg.steps);
  if (cfg.epochs > 0) {
    auto per_step = static_cast<double>(cfg.workers * cfg.batch);
    const double steps = std::ceil(cfg.epochs * static_cast<double>(train_size) / per_step);
    // Converting a double beyond uint64's range is undefined, and a run of 0 steps is no run.
    if (!(steps <= static_cast<double>(max_steps)))
      throw config_error("--epochs=" + shown(cfg.epochs) + ": " + shown(steps) + " steps of " +
                         shown(per_step) + " samples over " + std::to_string(train_size) +
                         " training samples, more than the limit of " + std::to_string(max_steps));
    if (!(steps >= 1))
      throw config_error("--epochs=" + shown(cfg.epochs) + ": no step to make over " +
                         std::to_string(train_size) + " training samples");
    return static_cast<std::uint64_t>(steps);
  }
  return default_steps;
}

} // namespace dsq
