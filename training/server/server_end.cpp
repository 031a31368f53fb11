// server_core: the end of a run: the farewells, the goodbye wait, the summary and the outcome.

#include "training/server/server_core.hpp"

#include "base/simd/simd_dispatch.hpp"
#include "config/aggregate_rule.hpp"

#include <fmt/format.h>

namespace dsq {

namespace {

/// A server that awaits goodbyes waits for a worker it told to go while the worker was heard
/// from within this (its heartbeats come at least once a second), and at most goodbye_limit.
constexpr auto goodbye_grace = std::chrono::seconds(2);
constexpr auto goodbye_limit = std::chrono::minutes(5);

} // namespace

// -- the end ----------------------------------------------------------------------------------

server_effects server_core::stop_requested(time_point now) {
  now_ = now;
  if (phase_ == phase::finishing) { // a signal during the goodbye wait ends it
    goodbye_wait_over_ = true;
    maybe_quit();
    return take();
  }
  stopped_early_ = true;
  finish();
  return take();
}

/// The run's observer asked to stop (or failed) while the last event was handled: ends the run
/// at the step it has reached, as a stop request does. True if it ended it.
bool server_core::stop_if_observer_asked() {
  if (phase_ != phase::training || (!observer_said_stop_ && observer_failure_.empty()))
    return false;
  if (!observer_failure_.empty()) {
    finish(observer_failure_);
    return true;
  }
  stopped_early_ = true;
  finish();
  return true;
}

void server_core::finish(std::string failure) {
  if (phase_ == phase::finishing)
    return;
  auto previous = phase_;
  phase_ = phase::finishing;
  failure_ = std::move(failure);
  if (!opts_.cfg.checkpoint.empty() && !diverged_at_) {
    try {
      save_checkpoint();
    } catch (const std::exception& e) {
      if (failure_.empty())
        failure_ = e.what();
    }
  }
  // A failed run's workers exit non-zero too: a launcher restarting the server restarts them.
  farewell bye{failure_.empty() ? "training finished" : failure_, !failure_.empty()};
  for (const auto* group : {&members_.members(), &members_.joining()})
    for (auto& [id, m] : *group) {
      send_peer(m.handle, farewell_msg{bye});
      if (opts_.await_goodbyes)
        told_to_go_.insert(m.handle);
    }
  if (!told_to_go_.empty()) {
    farewells_sent_ = now_;
    out_.push_back(arm_timer{server_timer::goodbye, goodbye_grace});
  }
  end_shards();
  // The final evaluation, including the loss on the whole training set; start_training asked
  // for it already when no step was made.
  if (previous == phase::training && version() > first_version_)
    request_evaluation(true);
  else if (previous == phase::waiting)
    report_.start(version());
  maybe_quit();
}

/// The end of the goodbye wait, or another look later. A worker told to go that still sends
/// heartbeats is still receiving what went before its farewell: over a link slower than the
/// run's last messages are long (the last updates of a 1M-parameter MLP without compression to
/// 4 workers take 14 s at 10 Mbit/s), and quitting would drop the farewell from the middleman's
/// buffers. A silent worker (stopped, cut off) is not waited for.
server_effects server_core::goodbye_tick(time_point now) {
  now_ = now;
  std::size_t receiving = 0;
  for (auto peer : told_to_go_) {
    auto id = worker_of(peer);
    auto heard = id ? last_heard_.find(*id) : last_heard_.end();
    if (heard != last_heard_.end() && now_ - heard->second < goodbye_grace)
      ++receiving;
  }
  if (receiving > 0 && now_ - farewells_sent_ < goodbye_limit) {
    if (!said_slow_goodbyes_) {
      said_slow_goodbyes_ = true;
      report_.say(fmt::format(
          "dsq server: {} {} still receiving the end of the run; waiting (at most {} s; SIGINT or "
          "SIGTERM stops waiting)",
          receiving, receiving == 1 ? "worker is" : "workers are",
          std::chrono::duration_cast<std::chrono::seconds>(goodbye_limit).count()));
    }
    out_.push_back(
        arm_timer{server_timer::goodbye,
                  std::chrono::duration_cast<std::chrono::milliseconds>(goodbye_grace) / 4});
    return take();
  }
  goodbye_wait_over_ = true;
  maybe_quit();
  return take();
}

/// Quits once the run is over, no evaluation is on its way and the goodbye wait is over:
/// writes the summary and fills in the outcome.
void server_core::maybe_quit() {
  if (phase_ != phase::finishing || evals_in_flight_ > 0)
    return;
  if (!told_to_go_.empty() && !goodbye_wait_over_)
    return;
  if (awaiting_shard_reports())
    return;
  auto& out = *opts_.outcome;
  auto s = summary();
  out.model = full_model();
  out.rows = report_.log().rows();
  out.ok = failure_.empty();
  out.error = failure_;
  try {
    if (!opts_.cfg.summary.empty())
      write_summary(opts_.cfg.summary, s);
  } catch (const std::exception& e) {
    out.ok = false;
    out.error = e.what();
  }
  out.summary = s;
  report_.print_done(s, opts_.setup.net->num_parameters());
  out_.push_back(stop_server{false, !out.ok, out.error});
}

/// The run's summary: the reporter's totals and the run's own fields.
run_summary server_core::summary() {
  const auto& cfg = opts_.cfg;
  run_summary s;
  try {
    s = report_.finish(version());
  } catch (const std::exception& e) {
    if (failure_.empty())
      failure_ = e.what();
  }
  s.final_train_loss = opts_.outcome->summary.final_train_loss;
  s.method = cfg.method;
  s.uplink = method_.uplink;
  s.downlink = method_.downlink;
  s.model = opts_.setup.net->spec();
  s.dataset = opts_.setup.source->description();
  s.mode = cfg.mode;
  s.aggregate = to_string(parse_aggregate_rule(cfg.aggregate));
  s.staleness_bound = policy_->staleness_bound();
  policy_->add_statistics(s);
  if (opts_.faults_injected)
    s.faults_injected = opts_.faults_injected();
  s.parameters = opts_.setup.net->num_parameters();
  if (shards_) {
    // Shard 0's bytes are the reporter's; each follower's, its report (0 if it sent none).
    s.shards = shards_->count();
    s.shard_bytes_up.assign(s.shards, 0);
    s.shard_bytes_down.assign(s.shards, 0);
    s.shard_bytes_up[0] = s.bytes_up;
    s.shard_bytes_down[0] = s.bytes_down;
    for (const auto& [k, r] : shards_->reports()) {
      s.shard_bytes_up[k] = r.bytes_in;
      s.shard_bytes_down[k] = r.bytes_out;
      s.bytes_up += r.bytes_in;
      s.bytes_down += r.bytes_out;
    }
  }
  s.seed = cfg.seed;
  s.workers = trained_.size(); // distinct workers that trained
  s.simd = name(active_simd_level());
  if (cfg.target_accuracy > 0)
    s.target_accuracy = cfg.target_accuracy;
  s.completed = failure_.empty() && (version() == total_steps_ || s.reached_target);
  s.diverged = diverged_at_.has_value();
  s.diverged_at_step = diverged_at_;
  s.note = !failure_.empty() ? failure_
           : stopped_early_  ? fmt::format("stopped at step {} of {}", version(), total_steps_)
                             : std::string{};
  return s;
}

server_effects server_core::network_lost(const std::string& why) {
  // No worker can be reached, so nothing more can be trained. Ends as a crash would, for
  // --resume to continue exactly: finish() would write a checkpoint of this step, which lacks
  // the workers' states, over the last one.
  auto& out = *opts_.outcome;
  out.ok = false;
  out.network_lost = true;
  out.error = why;
  try {
    report_.log().hand_over(); // the resumed run continues the metrics from here
  } catch (const std::exception& e) {
    out.error += fmt::format(" (and the metrics: {})", e.what());
  }
  out_.push_back(stop_server{false, true, out.error});
  return take();
}

} // namespace dsq
