#include "config/run_config.hpp"

#include "compression/make_compressor.hpp"
#include "config/method.hpp"
#include "model/lr_schedule.hpp"

#include <cmath>

namespace dsq {

namespace {

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
  if (cfg.max_workers > 0 && cfg.max_workers < std::max(cfg.min_workers, std::uint64_t{1}))
    throw config_error("--max-workers is below --min-workers");
}

std::uint64_t total_steps(const run_config& cfg, std::size_t train_size) {
  if (cfg.steps >= 0)
    return static_cast<std::uint64_t>(cfg.steps);
  if (cfg.epochs > 0) {
    auto per_step = static_cast<double>(cfg.workers * cfg.batch);
    return static_cast<std::uint64_t>(
        std::ceil(cfg.epochs * static_cast<double>(train_size) / per_step));
  }
  return default_steps;
}

} // namespace dsq
