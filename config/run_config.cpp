#include "config/run_config.hpp"

#include "compression/make_compressor.hpp"
#include "config/aggregate_rule.hpp"
#include "config/data_origin.hpp"
#include "config/method.hpp"
#include "config/run_limits.hpp"
#include "config/slow_workers.hpp"
#include "model/load_dataset.hpp"
#include "model/lr_schedule.hpp"
#include "model/make_model.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <sstream>

namespace dsq {

namespace {

/// "ID:FACTOR[,ID:FACTOR...]" -> {id: factor}; throws config_error naming the bad part.
std::map<std::uint32_t, double> parse_slow_workers(const std::string& spec) {
  std::map<std::uint32_t, double> result;
  if (spec.empty())
    return result;
  std::size_t begin = 0;
  while (begin <= spec.size()) {
    auto end = spec.find(',', begin);
    if (end == std::string::npos)
      end = spec.size();
    auto part = spec.substr(begin, end - begin);
    auto colon = part.find(':');
    auto bad = [&](const std::string& why) {
      return config_error("--slow-worker=" + spec + ": '" + part + "' " + why);
    };
    if (colon == std::string::npos)
      throw bad("is not ID:FACTOR");
    std::size_t used = 0;
    unsigned long id = 0;
    double factor = 0;
    try {
      id = std::stoul(part.substr(0, colon), &used);
      if (used != colon || part[0] == '-')
        throw bad("has a bad worker id");
      auto f = part.substr(colon + 1);
      factor = std::stod(f, &used);
      if (used != f.size())
        throw bad("has a bad factor");
    } catch (const config_error&) {
      throw;
    } catch (const std::exception&) {
      throw bad("is not ID:FACTOR with numbers");
    }
    if (id > 0xffffffffUL)
      throw bad("has a worker id beyond 2^32");
    if (!(factor >= 1 && factor <= 1000))
      throw bad("needs a factor from 1 to 1000");
    result[static_cast<std::uint32_t>(id)] = factor;
    begin = end + 1;
  }
  return result;
}

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
  check_at_most(cfg.reconnect_timeout_s, max_connect_timeout_s, "reconnect-timeout");
  check_at_most(cfg.idle_timeout_s, max_connect_timeout_s, "idle-timeout");
}

void check_compressor(const std::string& spec, const char* option) {
  try {
    make_compressor(spec);
  } catch (const std::exception& e) {
    throw config_error(std::string{"--"} + option + "=" + spec + ": " + e.what());
  }
}

/// --aggregate: a known rule; robust rules only in sync mode, and a trimmed mean that keeps
/// at least one value of every coordinate when all --workers push.
void check_aggregate(const run_config& cfg) {
  aggregate_rule rule;
  try {
    rule = parse_aggregate_rule(cfg.aggregate);
  } catch (const std::exception& e) {
    throw config_error("--aggregate=" + cfg.aggregate + ": " + e.what());
  }
  if (rule.kind != aggregate_kind::mean && cfg.mode != "sync")
    throw config_error("--aggregate=" + cfg.aggregate +
                       " is for --mode=sync: an asynchronous server applies every push alone, "
                       "with no other push of its step to compare it with");
  if (rule.kind == aggregate_kind::trimmed_mean && cfg.workers <= 2 * rule.trim)
    throw config_error("--aggregate=" + cfg.aggregate +
                       " needs more than 2F = " + std::to_string(2 * rule.trim) +
                       " workers, --workers is " + std::to_string(cfg.workers));
  if (rule.kind == aggregate_kind::krum && cfg.workers < fewest_pushes(rule))
    throw config_error("--aggregate=" + cfg.aggregate +
                       " needs at least 2F + 3 = " + std::to_string(fewest_pushes(rule)) +
                       " workers, --workers is " + std::to_string(cfg.workers));
}

} // namespace

void check_shards(const run_config& cfg) {
  const auto k = std::to_string(cfg.servers);
  if (cfg.servers == 0)
    throw config_error("--servers=0: at least one parameter-server shard is needed (1: unsharded)");
  if (cfg.servers > max_servers)
    throw config_error("--servers=" + k + ": at most " + std::to_string(max_servers) + " shards");
  if (cfg.shard_index > 0 || !cfg.leader.empty()) {
    if (cfg.leader.empty())
      throw config_error("--shard-index=" + std::to_string(cfg.shard_index) +
                         " starts a follower shard: give --leader=HOST:PORT of shard 0");
    if (cfg.shard_index == 0 || cfg.shard_index >= cfg.servers)
      throw config_error("--shard-index=" + std::to_string(cfg.shard_index) +
                         ": a follower of --leader is shard 1.." + std::to_string(cfg.servers - 1) +
                         " of --servers=" + k + " (give both, as the leader has them)");
    if (cfg.leader.rfind(':') == std::string::npos)
      throw config_error("--leader=" + cfg.leader + ": expected HOST:PORT of shard 0");
  }
  if (!cfg.advertise.empty() && cfg.shard_index == 0)
    throw config_error("--advertise is for a follower shard (--shard-index=k): workers find the "
                       "leader at its own address");
  if (cfg.servers == 1)
    return;
  const auto limit = "--servers=" + k + ": ";
  // Krum with shards (protocol 10): the followers' partial distances grow with the seats².
  if (cfg.aggregate.rfind("krum", 0) == 0 && worker_cap(cfg) > max_sharded_krum_seats)
    throw config_error(limit + "--aggregate=" + cfg.aggregate + " takes at most " +
                       std::to_string(max_sharded_krum_seats) + " seats with shards, not " +
                       std::to_string(worker_cap(cfg)) + ": set --max-workers=" +
                       std::to_string(max_sharded_krum_seats) + " or fewer");
}

void validate(const run_config& cfg) {
  auto m = resolve_method(cfg);
  check_compressor(cfg.compressor, "compressor");
  check_compressor(m.uplink, "uplink");
  check_compressor(m.downlink, "downlink");
  if (cfg.mode != "sync" && cfg.mode != "async")
    throw config_error("--mode=" + cfg.mode + ": expected sync or async");
  if (cfg.mode == "sync" && cfg.staleness != -1)
    throw config_error("--staleness=" + std::to_string(cfg.staleness) +
                       " is for --mode=async: a synchronous run has no stale gradients");
  if (cfg.staleness < -1)
    throw config_error("--staleness=" + std::to_string(cfg.staleness) + ": must be 0 or more");
  if (cfg.staleness > 1000000)
    throw config_error("--staleness=" + std::to_string(cfg.staleness) +
                       ": at most 1000000 (the server keeps one grant per unit of staleness)");
  if (!(cfg.target_accuracy >= 0 && cfg.target_accuracy <= 1))
    throw config_error("--target-accuracy=" + shown(cfg.target_accuracy) +
                       ": expected 0 < A <= 1 (0: no target)");
  parse_slow_workers(cfg.slow_worker);
  check_aggregate(cfg);
  if (!(cfg.worker_timeout_s >= 0 && cfg.worker_timeout_s <= 86400))
    throw config_error("--worker-timeout=" + shown(cfg.worker_timeout_s) +
                       ": expected 0 (never) to 86400 seconds");
  if (!(cfg.server_timeout_s >= 0 && cfg.server_timeout_s <= 86400))
    throw config_error("--server-timeout=" + shown(cfg.server_timeout_s) +
                       ": expected 0 (never) to 86400 seconds");
  if (!(cfg.max_push_norm >= 0) || !std::isfinite(cfg.max_push_norm))
    throw config_error("--max-push-norm=" + shown(cfg.max_push_norm) +
                       ": expected a finite bound >= 0 (0: automatic)");
  if (cfg.workers == 0)
    throw config_error("--workers=0: at least one worker is needed");
  if (cfg.batch == 0)
    throw config_error("--batch=0: the minibatch needs at least one sample");
  if (!(cfg.lr > 0) || !std::isfinite(cfg.lr))
    throw config_error("--lr=" + shown(cfg.lr) + ": the step size must be positive");
  if (!(cfg.momentum >= 0 && cfg.momentum < 1))
    throw config_error("--momentum=" + shown(cfg.momentum) + ": expected 0 <= m < 1");
  if (cfg.steps < -1)
    throw config_error("--steps=" + std::to_string(cfg.steps) + ": must be 0 or more");
  if (cfg.steps >= 0 && cfg.epochs > 0)
    throw config_error("--steps and --epochs both given: choose one");
  if (cfg.epochs < 0 || !std::isfinite(cfg.epochs))
    throw config_error("--epochs=" + shown(cfg.epochs) + ": must be positive");
  if (cfg.placement != "spread" && cfg.placement != "os")
    throw config_error("--placement=" + cfg.placement + ": expected spread or os");
  if (cfg.scheduling != "batch" && cfg.scheduling != "normal")
    throw config_error("--scheduling=" + cfg.scheduling + ": expected batch or normal");
  if (cfg.tcp != "eager" && cfg.tcp != "caf")
    throw config_error("--tcp=" + cfg.tcp + ": expected eager or caf");
  parse_data_origin(cfg.data_origin);
  if (cfg.shard != "contiguous" && cfg.shard != "shuffled")
    throw config_error("--shard=" + cfg.shard + ": expected contiguous or shuffled");
  try {
    check_model_spec(cfg.model);
  } catch (const std::exception& e) {
    throw config_error("--model=" + cfg.model + ": " + e.what());
  }
  try {
    check_dataset_spec(cfg.dataset);
  } catch (const std::exception& e) {
    throw config_error("--dataset=" + cfg.dataset + ": " + e.what());
  }
  try {
    parse_lr_schedule(cfg.lr_schedule);
  } catch (const std::exception& e) {
    throw config_error("--lr-schedule=" + cfg.lr_schedule + ": " + e.what());
  }
  check_limits(cfg);
  std::error_code ignored; // an unreadable path is as unusable as a missing one
  if (!cfg.data_dir.empty() && !std::filesystem::is_directory(cfg.data_dir, ignored))
    throw config_error("--data-dir=" + cfg.data_dir + ": no such directory");
  if (cfg.max_workers > 0 && cfg.max_workers < std::max(cfg.min_workers, std::uint64_t{1}))
    throw config_error("--max-workers is below --min-workers");
  check_shards(cfg);
}

run_config shared_training_part(const run_config& cfg) {
  run_config shared = cfg;
  const run_config defaults;
  shared.metrics = defaults.metrics;
  shared.summary = defaults.summary;
  shared.checkpoint = defaults.checkpoint;
  shared.checkpoint_every = defaults.checkpoint_every;
  shared.resume = defaults.resume;
  shared.port = defaults.port;
  shared.bind = defaults.bind;
  shared.server = defaults.server;
  shared.min_workers = defaults.min_workers;
  shared.max_workers = defaults.max_workers;
  shared.max_push_norm = defaults.max_push_norm;
  shared.max_message_bytes = defaults.max_message_bytes;
  shared.aggregate = defaults.aggregate;
  shared.connect_timeout_s = defaults.connect_timeout_s;
  shared.reconnect_timeout_s = defaults.reconnect_timeout_s;
  shared.idle_timeout_s = defaults.idle_timeout_s;
  shared.server_timeout_s = defaults.server_timeout_s;
  shared.pin_cpus = defaults.pin_cpus;
  shared.placement = defaults.placement;
  shared.scheduling = defaults.scheduling;
  shared.tcp = defaults.tcp;
  shared.tls_cert = defaults.tls_cert;
  shared.tls_key = defaults.tls_key;
  shared.tls_ca = defaults.tls_ca;
  shared.insecure = defaults.insecure;
  shared.shard_index = defaults.shard_index;
  shared.leader = defaults.leader;
  shared.advertise = defaults.advertise;
  shared.quiet = defaults.quiet;
  shared.data_dir = defaults.data_dir;
  shared.data_origin = defaults.data_origin;
  return shared;
}

std::uint64_t worker_cap(const run_config& cfg) {
  if (cfg.max_workers > 0)
    return cfg.max_workers;
  return std::max({default_worker_cap, cfg.workers, cfg.min_workers});
}

std::uint64_t staleness_bound(const run_config& cfg) {
  return cfg.staleness < 0 ? 4 : static_cast<std::uint64_t>(cfg.staleness);
}

std::map<std::uint32_t, double> slow_workers(const run_config& cfg) {
  return parse_slow_workers(cfg.slow_worker);
}

double slow_factor(const run_config& cfg, std::uint32_t id) {
  auto factors = parse_slow_workers(cfg.slow_worker);
  auto it = factors.find(id);
  return it == factors.end() ? 1.0 : it->second;
}

std::uint64_t total_steps(const run_config& cfg, std::size_t train_size) {
  if (cfg.steps >= 0)
    return static_cast<std::uint64_t>(cfg.steps);
  if (cfg.epochs > 0) {
    // Samples per version: a synchronous step averages --workers pushes, an asynchronous
    // version applies one push.
    auto per_step = static_cast<double>((cfg.mode == "async" ? 1 : cfg.workers) * cfg.batch);
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
