#include "actors/parameter_server.hpp"

#include "actors/local_exits_only.hpp"

#include "actors/evaluator.hpp"
#include "compression/wire.hpp"
#include "config/method.hpp"
#include "net/protocol/atoms.hpp"
#include "net/protocol/messages.hpp"
#include "training/divergence_probe.hpp"
#include "training/membership.hpp"
#include "training/push_check.hpp"
#include "training/round_policy.hpp"
#include "training/run_reporter.hpp"
#include "training/training_spec.hpp"
#include "training/update_engine.hpp"

#include <caf/all.hpp>
#include <caf/io/broker.hpp>
#include <caf/io/middleman.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <deque>
#include <map>
#include <optional>
#include <set>

namespace dsq {

namespace {

using clock_type = std::chrono::steady_clock;
using tick_atom = caf::atom_constant<caf::atom("tick")>;
using goodbye_atom = caf::atom_constant<caf::atom("goodbye")>;
/// From the server to itself: a worker's connection was lost (see the down handler).
using lost_atom = caf::atom_constant<caf::atom("lost")>;

/// A server that awaits goodbyes waits for a worker it told to go while the worker was heard
/// from within this (its heartbeats come at least once a second), and at most goodbye_limit.
constexpr auto goodbye_grace = std::chrono::seconds(2);
constexpr auto goodbye_limit = std::chrono::minutes(5);

enum class phase { waiting, training, finishing };

struct server_state {
  server_options opts;
  /// Workers told to go whose connection is still open (opts.await_goodbyes).
  std::set<caf::actor_addr> told_to_go;
  bool goodbye_wait_over = false;
  clock_type::time_point farewells_sent;
  bool said_slow_goodbyes = false;
  method_switches method;
  caf::actor evaluator;
  std::optional<update_engine> engine;
  std::unique_ptr<round_policy> policy;
  std::optional<membership<caf::actor>> members;
  std::optional<run_reporter> report;
  std::optional<push_check> checks;
  std::map<std::uint32_t, clock_type::time_point> last_heard;    ///< any message
  std::map<std::uint32_t, clock_type::time_point> last_progress; ///< entered, or pushed
  std::uint64_t total_steps = 0;
  std::uint64_t first_version = 0; ///< where this run started (non-zero when resumed)
  std::size_t resumed_members = 0; ///< members of the checkpoint resumed from, if it had states
  bool given_up_waiting = false;   ///< some of them did not come back in time
  phase now = phase::waiting;
  std::size_t evals_in_flight = 0;
  std::string failure;
  bool stopped_early = false;
  std::optional<std::uint64_t> diverged_at;
  std::optional<divergence_probe> probe; ///< judges a bad push: diverged model or bad worker
  /// The latest updates as sent (one shared message each), oldest first: what a worker that
  /// missed some gets again. Bounded in count and bytes; older gaps get the full model.
  std::deque<std::pair<std::uint64_t, caf::message>> recent_updates;
  std::size_t recent_bytes = 0;
  /// The key of the latest push accepted from each worker (push_key): one not newer is a resend.
  std::map<std::uint32_t, std::uint64_t> last_push;
  /// Sync with checkpoints: workers attach their state to pushes of steps that are multiples
  /// of this, and the server writes the checkpoint of that step with them (0: never).
  std::uint64_t state_every = 0;
  /// The states attached to the pushes of the current step, by worker id.
  std::map<std::uint32_t, worker_snapshot> collected;
  /// Resumed: the workers' states from the checkpoint, handed back to each as it returns.
  std::map<std::uint32_t, worker_snapshot> returning_states;
  clock_type::time_point waiting_since = clock_type::now();

  static inline const char* name = "dsq_parameter_server";

  bool async() const { return opts.cfg.mode == "async"; }
  std::uint64_t version() const { return engine->version(); }
};

/// The server as an actor of its own (detached or scheduled: dsq local, tests) or as a broker,
/// which runs in the middleman's thread (dsq server): one behavior for both, written against
/// `Self`.
using server_actor = local_exits_only<server_state>;
using server_broker = local_exits_only<server_state, caf::io::broker>;

template <class Self>
void finish(Self* self, std::string failure = {});
template <class Self>
void drain(Self* self);
template <class Self>
void start_training(Self* self);

/// What makes a worker's push unique and grows with each of its pushes: its step in sync (one
/// push per step), its grant's number in async (two grants may name the same version).
std::uint64_t push_key(bool async, const gradient_push& p) {
  return async ? p.grant : p.step;
}

/// Bounds of the ring of recent updates.
constexpr std::size_t recent_updates_max = 256;
constexpr std::size_t recent_bytes_max = std::size_t{64} << 20;

template <class Self>
welcome make_welcome(Self* self, std::uint32_t id, const shard_assignment& shard) {
  auto& st = self->state;
  const auto& x = st.engine->x();
  welcome w;
  w.worker_id = id;
  w.config = shared_training_part(st.opts.cfg); // never the server's paths, ports or keys
  w.version = st.version();
  w.total_steps = st.total_steps;
  w.model.assign(x.data(), x.data() + x.size());
  if (const auto* m = st.engine->momentum_buffer())
    w.momentum.assign(m->data(), m->data() + m->size());
  w.shard = shard;
  w.state_every = st.state_every;
  if (auto it = st.returning_states.find(id); it != st.returning_states.end()) {
    w.has_state = true;
    w.state = std::move(it->second);
    st.returning_states.erase(it);
  }
  return w;
}

template <class Self>
void maybe_quit(Self* self) {
  auto& st = self->state;
  if (st.now != phase::finishing || st.evals_in_flight > 0)
    return;
  if (!st.told_to_go.empty() && !st.goodbye_wait_over)
    return;
  auto& out = *st.opts.outcome;
  const auto& cfg = st.opts.cfg;
  run_summary s;
  try {
    s = st.report->finish(st.version());
  } catch (const std::exception& e) {
    if (st.failure.empty())
      st.failure = e.what();
  }
  s.final_train_loss = out.summary.final_train_loss;
  s.method = cfg.method;
  s.uplink = st.method.uplink;
  s.downlink = st.method.downlink;
  s.model = st.opts.setup.net->spec();
  s.dataset = st.opts.setup.data->description;
  s.mode = cfg.mode;
  s.staleness_bound = st.async() ? static_cast<std::int64_t>(staleness_bound(cfg)) : -1;
  st.policy->add_statistics(s);
  if (st.opts.faults_injected)
    s.faults_injected = st.opts.faults_injected();
  s.parameters = st.engine->dim();
  s.seed = cfg.seed;
  s.workers = st.members->ids_given(); // every worker that took part
  if (cfg.target_accuracy > 0)
    s.target_accuracy = cfg.target_accuracy;
  s.completed = st.failure.empty() && (st.version() == st.total_steps || s.reached_target);
  s.diverged = st.diverged_at.has_value();
  s.diverged_at_step = st.diverged_at;
  s.note = !st.failure.empty() ? st.failure
           : st.stopped_early
               ? fmt::format("stopped at step {} of {}", st.version(), st.total_steps)
               : std::string{};
  out.model = st.engine->x();
  out.rows = st.report->log().rows();
  out.ok = st.failure.empty();
  out.error = st.failure;
  try {
    if (!cfg.summary.empty())
      write_summary(cfg.summary, s);
  } catch (const std::exception& e) {
    out.ok = false;
    out.error = e.what();
  }
  out.summary = s;
  st.report->print_done(s, st.engine->dim());
  self->send_exit(st.evaluator, caf::exit_reason::user_shutdown);
  if (out.ok)
    self->quit();
  else
    self->quit(caf::make_error(caf::sec::runtime_error, out.error));
}

/// Ends the run when the model or its loss is no longer finite: nothing after it is training.
template <class Self>
bool check_diverged(Self* self, double loss) {
  auto& st = self->state;
  if (std::isfinite(loss) && (st.version() % 64 != 0 || st.engine->x().allFinite()))
    return false;
  st.diverged_at = st.version();
  finish(self, fmt::format("the run diverged at step {} (non-finite {})", st.version(),
                           std::isfinite(loss) ? "model" : "loss"));
  return true;
}

/// For a push of worker `id` that could come from a model that blows up (`what` says why):
/// ends the run as diverged if the server's model has (divergence_probe.hpp), and returns true;
/// returns false if it has not, and the push is the worker's fault.
template <class Self>
bool end_if_diverged(Self* self, std::uint32_t id, const std::string& what) {
  auto& st = self->state;
  const double loss = st.probe->loss(st.engine->x());
  if (!st.probe->diverged(loss))
    return false;
  st.diverged_at = st.version();
  finish(self,
         fmt::format("the run diverged at step {} (worker {}: {}; the model's loss on {} "
                     "training samples is {:.3g}, {:.3g} at the start)",
                     st.version(), id, what, st.probe->samples(), loss, st.probe->initial_loss()));
  return true;
}

/// Asks the evaluator about x_version; the row of that step waits in the log for the answer.
template <class Self>
void request_evaluation(Self* self, bool with_train) {
  auto& st = self->state;
  auto step = st.version();
  ++st.evals_in_flight;
  const auto& x = st.engine->x();
  std::vector<float> params(x.data(), x.data() + x.size());
  self->request(st.evaluator, caf::infinite, eval_atom::value, step, std::move(params), with_train)
      .then(
          [=](double test_loss, double test_accuracy, double train_loss) {
            auto& st = self->state;
            --st.evals_in_flight;
            std::optional<step_record> row;
            try {
              row = st.report->evaluated(step, test_loss, test_accuracy);
            } catch (const std::exception& e) {
              finish(self, e.what());
            }
            if (with_train)
              st.opts.outcome->summary.final_train_loss = train_loss;
            auto& totals = st.report->totals();
            const auto target = st.opts.cfg.target_accuracy;
            if (target > 0 && !totals.reached_target && test_accuracy >= target) {
              totals.reached_target = true;
              if (row)
                totals.time_to_target_s = row->wall_s;
              st.report->say(
                  fmt::format("target accuracy {:.2f}% reached at step {}", 100 * target, step));
              finish(self);
            }
            maybe_quit(self);
          },
          [=](caf::error& err) {
            auto& st = self->state;
            --st.evals_in_flight;
            if (st.failure.empty())
              st.failure = "evaluation failed: " + self->system().render(err);
            maybe_quit(self);
          });
}

/// Sends the policy's grants: who may start a gradient now (async only).
template <class Self>
void send_grants(Self* self) {
  auto& st = self->state;
  if (st.now != phase::training)
    return;
  for (const auto& g : st.policy->grants(st.version(), st.total_steps - st.version()))
    if (const auto* m = st.members->get(g.worker)) {
      self->send(m->handle, grant_atom::value, g.version, g.number);
      st.last_progress[g.worker] = clock_type::now(); // it owes a push from now on
    }
}

/// A membership boundary: re-shard if membership changed, broadcast `update` to the members,
/// then welcome the workers waiting to join (with the model that includes `update`). Sync mode
/// crosses one at each step; async mode whenever membership changes.
template <class Self>
void cross_boundary(Self* self, const caf::message* update) {
  auto& st = self->state;
  std::map<std::uint32_t, shard_assignment> shards;
  if (st.members->needs_reshard()) {
    shards = st.members->assign_shards();
    for (auto& [id, m] : st.members->members())
      self->send(m.handle, reshard_atom::value, shards[id]);
  }
  if (update != nullptr)
    for (auto& [id, m] : st.members->members())
      self->send(m.handle, *update);
  for (auto& [id, m] : st.members->enter_joiners()) {
    self->send(m.handle, welcome_atom::value, make_welcome(self, id, shards[id]));
    if (st.now == phase::training && st.version() > st.first_version)
      st.report->say(fmt::format("worker {} ({}) joins at step {}", id, m.host, st.version()));
    st.policy->enter(id, st.version());
    st.last_progress[id] = clock_type::now();
  }
}

/// Writes the checkpoint of the current version; `workers`: the members' own states at this
/// step (sync), which make the checkpoint one that a run resumes from exactly.
template <class Self>
void save_checkpoint(Self* self, std::map<std::uint32_t, worker_snapshot> workers = {}) {
  auto& st = self->state;
  // The rows up to here reach the OS first: a resumed run continues the metrics file from the
  // checkpoint's step, and rows still buffered in a killed process would leave a gap.
  st.report->log().hand_over();
  auto ckpt = st.engine->snapshot();
  ckpt.spec = training_spec_text(st.opts.cfg);
  ckpt.members = st.members->snapshot();
  ckpt.push_norms = st.checks->recent_norms();
  ckpt.push_norm_peak = st.checks->peak_median();
  const bool exact = !workers.empty();
  ckpt.workers = std::move(workers);
  write_checkpoint(st.opts.cfg.checkpoint, ckpt);
  st.report->say(fmt::format("checkpoint of step {} written to {}{}", st.version(),
                             st.opts.cfg.checkpoint, exact ? " (with the workers' states)" : ""));
}

/// Keeps `update` (the message that made `version`) for workers that miss it.
template <class Self>
void remember_update(Self* self, std::uint64_t version, const caf::message& update,
                     std::size_t bytes) {
  auto& st = self->state;
  st.recent_updates.emplace_back(version, update);
  st.recent_bytes += bytes;
  while (st.recent_updates.size() > recent_updates_max ||
         (st.recent_bytes > recent_bytes_max && st.recent_updates.size() > 1)) {
    st.recent_bytes -=
        st.recent_updates.front().second.template get_as<model_update>(1).payload.size();
    st.recent_updates.pop_front();
  }
}

/// Brings worker `id`, which holds x_`held`, up to the server's version: the updates it lacks
/// from the ring, or the full model when the ring no longer has them (a resync).
template <class Self>
void catch_up(Self* self, std::uint32_t id, std::uint64_t held) {
  auto& st = self->state;
  const auto* m = st.members->get(id);
  if (m == nullptr || !st.members->is_member(id) || held >= st.version())
    return;
  const bool in_ring = !st.recent_updates.empty() && st.recent_updates.front().first <= held + 1;
  if (!in_ring) {
    self->send(m->handle, resync_atom::value, make_welcome(self, id, m->shard));
    ++st.report->totals().resyncs;
    return;
  }
  for (const auto& [version, msg] : st.recent_updates)
    if (version > held) {
      self->send(m->handle, msg);
      ++st.report->totals().retransmissions;
    }
}

/// Applies one round released by the policy: the DoubleSqueeze update, its broadcast and its row.
template <class Self>
void apply_round(Self* self, round r) {
  auto& st = self->state;
  // Sync: the checkpoint of step t is written when its last push arrived, before the update:
  // it holds x_t, δ_t, every member's own state before its gradient t (attached to the
  // pushes) and the push bound's history up to step t - 1, which is everything the
  // uninterrupted run depends on from here.
  const bool resumed_here = st.opts.resume_from && st.version() == st.first_version;
  if (st.state_every > 0 && st.version() % st.state_every == 0 && !resumed_here) {
    std::map<std::uint32_t, worker_snapshot> workers;
    for (auto& [id, state] : st.collected)
      if (st.members->is_member(id) && state.version == st.version())
        workers.emplace(id, std::move(state));
    try {
      save_checkpoint(self, std::move(workers));
    } catch (const std::exception& e) {
      finish(self, e.what());
      return;
    }
  }
  st.collected.clear();
  std::vector<compressed_message> cs;
  cs.reserve(r.pushes.size());
  double loss_sum = 0;
  std::uint64_t bytes_up = 0, staleness = 0;
  for (auto& p : r.pushes) {
    // The push bound learns from the pushes applied, in the round's order (worker ids in sync),
    // so that its history is the same in every run and in a resumed one, and pushes that came
    // too late or too early do not count.
    st.checks->record(p.norm);
    const auto s = st.version() - p.step;
    st.report->applied_push(s);
    staleness = std::max(staleness, s);
    loss_sum += p.loss;
    bytes_up += p.bytes;
    cs.push_back(std::move(p.c));
  }
  auto c = st.engine->aggregate(cs, r.weight);
  const float lr = st.engine->lr();
  const auto new_version = st.version() + 1;
  // One message object for every recipient and the ring: in one process they share the
  // payload, which moves in rather than being copied.
  auto update = caf::make_message(update_atom::value, model_update{new_version, to_bytes(c)});
  const auto update_bytes = update.get_as<model_update>(1).payload.size();
  const std::uint64_t bytes_down = update_bytes * st.members->members().size();
  // The workers wait for the update; nobody waits for the server's copy of x_{t+1} or for the
  // log, so those come after the send, which takes the server's update (a pass over x) off
  // the critical path. Only welcoming joiners needs x_{t+1} (and its momentum) first.
  const bool welcomes = !st.members->joining().empty();
  if (welcomes)
    st.engine->apply(c);
  if (st.async()) {
    for (auto& [id, m] : st.members->members())
      self->send(m.handle, update);
  } else {
    cross_boundary(self, &update);
    // A new step: every member owes its push from now on.
    const auto now = clock_type::now();
    for (const auto& [id, m] : st.members->members())
      st.last_progress[id] = now;
  }
  if (!welcomes)
    st.engine->apply(c);
  remember_update(self, new_version, update, update_bytes);
  if (st.opts.crash_hook && st.opts.crash_hook(st.version())) {
    // An injected crash: gone at once, with nothing written and nobody told.
    self->send_exit(st.evaluator, caf::exit_reason::kill);
    self->quit(caf::exit_reason::kill);
    return;
  }

  step_record row;
  row.step = st.version();
  row.wall_s = st.report->elapsed();
  row.train_loss = loss_sum / static_cast<double>(cs.size());
  row.bytes_up = bytes_up;
  row.bytes_down = bytes_down;
  row.workers = static_cast<std::uint32_t>(st.async() ? st.members->members().size() : cs.size());
  row.lr = lr;
  row.pushes = static_cast<std::uint32_t>(cs.size());
  row.staleness = staleness;
  const bool last = st.version() == st.total_steps;
  const auto every = st.opts.cfg.eval_every;
  const bool evaluate_now = !last && every > 0 && st.version() % every == 0;
  try {
    st.report->record(row, evaluate_now || last);
  } catch (const std::exception& e) {
    finish(self, e.what());
    return;
  }
  if (check_diverged(self, row.train_loss))
    return;
  if (evaluate_now)
    request_evaluation(self, false);
  // Async (and sync without worker states): the server's own state after the update.
  const auto ckpt_every = st.opts.cfg.checkpoint_every;
  if (!last && st.state_every == 0 && ckpt_every > 0 && !st.opts.cfg.checkpoint.empty() &&
      st.version() % ckpt_every == 0) {
    try {
      save_checkpoint(self);
    } catch (const std::exception& e) {
      finish(self, e.what());
      return;
    }
  }
  if (last)
    finish(self);
}

/// Applies every round the policy releases, then hands out grants.
template <class Self>
void drain(Self* self) {
  auto& st = self->state;
  while (st.now == phase::training) {
    auto r = st.policy->next(st.version(), st.members->members().size());
    if (!r)
      break;
    apply_round(self, std::move(*r));
  }
  if (st.now != phase::training)
    return;
  // Also after a step that the last member pushed to before it left: nobody is left to push.
  if (st.members->members().empty() && st.members->joining().empty() && !st.opts.elastic) {
    finish(self, fmt::format("every worker is gone at step {}", st.version()));
    return;
  }
  send_grants(self);
}

template <class Self>
void depart(Self* self, std::uint32_t id, const std::string& why) {
  auto& st = self->state;
  st.last_heard.erase(id);
  st.last_progress.erase(id);
  st.last_push.erase(id);
  st.collected.erase(id);
  auto removed = st.members->remove(id);
  if (removed == membership<caf::actor>::removal::joiner) {
    // Nobody else will come to a local run: it cannot reach its quorum any more.
    if (st.now == phase::waiting && !st.opts.elastic)
      finish(self, fmt::format("worker {} is gone before training started ({})", id, why));
    return;
  }
  if (removed == membership<caf::actor>::removal::none)
    return;
  st.policy->leave(id);
  if (st.now == phase::finishing)
    return; // workers quitting at the end are not departures
  ++st.report->totals().departures;
  ++st.report->totals().residuals_lost;
  st.report->say(
      fmt::format("worker {} left at step {} ({}); its uplink residual is lost, {} workers remain",
                  id, st.version(), why, st.members->members().size()));
  // Async: the remaining workers take over the departed one's samples at once.
  if (st.async() && st.now == phase::training)
    cross_boundary(self, nullptr);
  drain(self);
}

/// Removes a worker that broke the rules, telling it why; `may_rejoin`: it was only silent,
/// and may register again (as a new worker) if it wakes up.
template <class Self>
void expel(Self* self, std::uint32_t id, const std::string& why, bool may_rejoin = false) {
  if (const auto* m = self->state.members->get(id))
    self->send(m->handle, shutdown_atom::value, farewell{why, true, may_rejoin});
  depart(self, id, why);
}

/// The number of workers a waiting run starts with (--min-workers, else --workers).
std::size_t start_quorum(const run_config& cfg) {
  return cfg.min_workers > 0 ? cfg.min_workers : cfg.workers;
}

/// What a waiting server waits for, in words.
template <class Self>
std::string start_condition(Self* self) {
  auto& st = self->state;
  if (st.resumed_members > 0)
    return fmt::format("the resumed run starts when the checkpoint's workers are back ({} "
                       "missing)",
                       st.members->expected().size());
  return fmt::format("{} of the {} needed to start", st.members->joining().size(),
                     start_quorum(st.opts.cfg));
}

/// Starts training once --min-workers registered; after a resume, once every worker of the
/// checkpoint is back (or stopped being waited for, see check_liveness).
template <class Self>
void maybe_start(Self* self) {
  auto& st = self->state;
  if (st.now != phase::waiting)
    return;
  const auto present = st.members->joining().size();
  if (st.resumed_members > 0) {
    // Resumed with the workers' states: the checkpoint's members, not --min-workers, decide.
    if (st.members->expected().empty() || (st.given_up_waiting && present > 0))
      start_training(self);
    return;
  }
  if (present >= start_quorum(st.opts.cfg))
    start_training(self);
}

template <class Self>
void start_training(Self* self) {
  auto& st = self->state;
  st.now = phase::training;
  st.report->start(st.version());
  step_record initial; // the first row: the initial (or resumed) model
  initial.step = st.version();
  initial.workers = static_cast<std::uint32_t>(st.members->joining().size());
  const bool nothing_to_do = st.version() >= st.total_steps;
  try {
    st.report->record(initial, true);
  } catch (const std::exception& e) {
    finish(self, e.what());
    return;
  }
  request_evaluation(self, nothing_to_do);
  cross_boundary(self, nullptr);
  if (nothing_to_do)
    finish(self);
  else
    send_grants(self);
}

template <class Self>
void finish(Self* self, std::string failure) {
  auto& st = self->state;
  if (st.now == phase::finishing)
    return;
  auto previous = st.now;
  st.now = phase::finishing;
  st.failure = std::move(failure);
  if (!st.opts.cfg.checkpoint.empty() && !st.diverged_at) {
    try {
      save_checkpoint(self);
    } catch (const std::exception& e) {
      if (st.failure.empty())
        st.failure = e.what();
    }
  }
  farewell bye{st.failure.empty() ? "training finished" : st.failure, false};
  for (const auto* group : {&st.members->members(), &st.members->joining()})
    for (auto& [id, m] : *group) {
      self->send(m.handle, shutdown_atom::value, bye);
      if (st.opts.await_goodbyes)
        st.told_to_go.insert(m.handle.address());
    }
  if (!st.told_to_go.empty()) {
    st.farewells_sent = clock_type::now();
    self->delayed_send(self, goodbye_grace, goodbye_atom::value);
  }
  // The final evaluation, including the loss on the whole training set; start_training asked
  // for it already when no step was made.
  if (previous == phase::training && st.version() > st.first_version)
    request_evaluation(self, true);
  else if (previous == phase::waiting)
    st.report->start(st.version());
  maybe_quit(self);
}

/// Removes workers not heard from (push, heartbeat, anything) for --worker-timeout, and workers
/// the run waits for that have not pushed for as long: heartbeats prove a process alive, not
/// that it takes part (a registration that never pushes must not hold a seat or the barrier).
template <class Self>
void check_liveness(Self* self) {
  auto& st = self->state;
  const auto timeout = std::chrono::duration<double>(st.opts.cfg.worker_timeout_s);
  const auto now = clock_type::now();
  if (st.now == phase::waiting && !st.given_up_waiting && !st.members->expected().empty() &&
      now - st.waiting_since > timeout) {
    std::string ids;
    for (auto id : st.members->expected())
      ids += fmt::format("{}{}", ids.empty() ? "" : ", ", id);
    st.report->say(fmt::format("workers {} did not come back within --worker-timeout: their "
                               "states are lost, training goes on without them",
                               ids));
    st.returning_states.clear(); // a late one gets its id back, but not a stale state
    st.given_up_waiting = true;
    maybe_start(self);
  }
  std::vector<std::pair<std::uint32_t, std::string>> removed;
  for (const auto& [id, when] : st.last_heard) {
    if (now - when > timeout) {
      removed.emplace_back(id, "no message");
      continue;
    }
    auto progress = st.last_progress.find(id);
    if (st.now == phase::training && st.policy->owes_push(id) &&
        progress != st.last_progress.end() && now - progress->second > timeout)
      removed.emplace_back(id, "no push");
  }
  for (const auto& [id, what] : removed) {
    if (st.now == phase::finishing)
      return;
    ++st.report->totals().timeouts;
    expel(self, id,
          fmt::format("{} for {} s (--worker-timeout)", what, st.opts.cfg.worker_timeout_s), true);
  }
}

/// The id of the member (or joiner) whose actor has address `addr`, if any.
template <class Self>
std::optional<std::uint32_t> member_at(Self* self, const caf::actor_addr& addr) {
  return self->state.members->find_if([&](const caf::actor& h) { return h.address() == addr; });
}

/// The end of the goodbye wait, or another look later. A worker told to go that still sends
/// heartbeats is still receiving what went before its farewell: over a link slower than the
/// run's last messages are long (the last updates of a 1M-parameter MLP without compression to 4
/// workers take 14 s at 10 Mbit/s), and quitting would drop the farewell from the middleman's
/// buffers. A silent worker (stopped, cut off) is not waited for.
template <class Self>
void check_goodbyes(Self* self) {
  auto& st = self->state;
  const auto now = clock_type::now();
  std::size_t receiving = 0;
  for (const auto& addr : st.told_to_go) {
    auto id = member_at(self, addr);
    auto heard = id ? st.last_heard.find(*id) : st.last_heard.end();
    if (heard != st.last_heard.end() && now - heard->second < goodbye_grace)
      ++receiving;
  }
  if (receiving > 0 && now - st.farewells_sent < goodbye_limit) {
    if (!st.said_slow_goodbyes) {
      st.said_slow_goodbyes = true;
      st.report->say(fmt::format(
          "dsq server: {} {} still receiving the end of the run; waiting (at most {} s; SIGINT or "
          "SIGTERM stops waiting)",
          receiving, receiving == 1 ? "worker is" : "workers are",
          std::chrono::duration_cast<std::chrono::seconds>(goodbye_limit).count()));
    }
    self->delayed_send(self, goodbye_grace / 4, goodbye_atom::value);
    return;
  }
  st.goodbye_wait_over = true;
  maybe_quit(self);
}

/// The worker id of the actor that sent the current message, if it is one of ours.
template <class Self>
std::optional<std::uint32_t> sender_id(Self* self) {
  auto sender = self->current_sender();
  if (!sender)
    return std::nullopt;
  return member_at(self, caf::actor_cast<caf::actor_addr>(sender));
}

/// The id of the member that sent the current message while training runs, its message counted
/// as a sign of life; nothing for anyone else or at another time.
template <class Self>
std::optional<std::uint32_t> training_member(Self* self) {
  auto& st = self->state;
  auto id = sender_id(self);
  if (!id || st.now != phase::training || !st.members->is_member(*id))
    return std::nullopt;
  st.last_heard[*id] = clock_type::now();
  return id;
}

/// CAF's network layer ended (dsq server): no worker can be reached, so nothing more can be
/// trained. Ends as a crash would, for --resume to continue exactly: finish() would write a
/// checkpoint of this step, which lacks the workers' states, over the last one.
template <class Self>
void end_without_network(Self* self, const std::string& why) {
  auto& st = self->state;
  auto& out = *st.opts.outcome;
  out.ok = false;
  out.network_lost = true;
  out.error = why;
  try {
    st.report->log().hand_over(); // the resumed run continues the metrics from here
  } catch (const std::exception& e) {
    out.error += fmt::format(" (and the metrics: {})", e.what());
  }
  self->send_exit(st.evaluator, caf::exit_reason::user_shutdown);
  self->quit(caf::make_error(caf::sec::runtime_error, out.error));
}

/// Whether the current message comes from an actor of this process (an anonymous one may come
/// from anywhere).
template <class Self>
bool from_this_process(Self* self) {
  auto sender = self->current_sender();
  return sender && sender->node() == self->node();
}

/// Who may register `worker`: the worker itself, or code of this process on its behalf (dsq
/// local registers its workers so that the server monitors them before they run).
template <class Self>
bool may_register(Self* self, const caf::actor& worker) {
  auto sender = self->current_sender();
  if (sender && worker.address() == sender)
    return true;
  const bool local_worker = worker.node() == self->node();
  return local_worker && (!sender || sender->node() == self->node());
}

template <class Self>
caf::behavior server_behavior(Self* self, server_options opts) {
  auto& st = self->state;
  st.opts = std::move(opts);
  const auto& cfg = st.opts.cfg;
  st.method = resolve_method(cfg);
  const auto d = st.opts.setup.net->num_parameters();
  st.engine.emplace(cfg, *st.opts.setup.net);
  st.members.emplace(cfg.max_workers, st.opts.setup.data->train.size());
  if (st.opts.resume_from) {
    auto& from = *st.opts.resume_from;
    st.engine->restore(from);
    // With the workers' states the run continues exactly: the same ids, shards and residuals.
    if (!from.workers.empty()) {
      st.members->restore(from.members);
      st.returning_states = std::move(from.workers);
      st.resumed_members = st.returning_states.size();
    }
  }
  st.first_version = st.version();
  st.policy = make_round_policy(cfg.mode, staleness_bound(cfg));
  if (!st.async() && !cfg.checkpoint.empty() && cfg.checkpoint_every > 0)
    st.state_every = cfg.checkpoint_every;
  st.checks.emplace(st.method.uplink, d, cfg.max_push_norm);
  if (st.opts.resume_from) // the automatic bound goes on
    st.checks->restore_norms(st.opts.resume_from->push_norms, st.opts.resume_from->push_norm_peak);
  st.probe.emplace(st.opts.setup.net, st.opts.setup.data->train, cfg.seed);
  st.total_steps = total_steps(cfg, st.opts.setup.data->train.size());
  // Opened by make_server_options, so that a bad path fails before anything runs.
  st.report.emplace(st.opts.log, st.opts.verbose, st.total_steps);
  st.report->log().keep(st.opts.rows);
  st.report->start(st.version());
  st.evaluator = spawn_evaluator(self->system(), st.opts.setup, st.opts.detached);
  // CAF ends an actor on an error message it did not ask for: a stranger could end the run with
  // one. The server asks nothing of other actors, so no error message is its concern. (Exit
  // messages from other processes never get here: local_exits_only.)
  self->set_error_handler([](caf::error&) {});
  if (st.opts.network_layer)
    self->monitor(st.opts.network_layer);
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& st = self->state;
    if (st.opts.network_layer && dm.source == st.opts.network_layer.address())
      return end_without_network(self, "CAF's network layer ended (" +
                                           self->system().render(dm.reason) +
                                           "), probably on a message it could not decode; no "
                                           "worker can be reached");
    // A worker's departure waits for one turn of the mailbox. When CAF's network layer ends,
    // every worker's connection ends with it, and their down messages come before the layer's
    // own: taken at once, they would make the server train on without its workers and write a
    // checkpoint without their states over the last one.
    if (member_at(self, dm.source))
      self->send(self, lost_atom::value, dm.source,
                 "connection lost: " + self->system().render(dm.reason));
    if (st.told_to_go.erase(dm.source) > 0)
      maybe_quit(self);
  });
  if (cfg.worker_timeout_s > 0) {
    auto period = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::duration<double>(cfg.worker_timeout_s / 4));
    self->delayed_send(self, period, tick_atom::value);
  }
  {
    std::string mode = st.async() ? fmt::format("async, staleness <= {}", staleness_bound(cfg))
                                  : std::string{"sync"};
    st.report->say(fmt::format("dsq: {} ({}), {}, {} workers, model {} with {} parameters, {} "
                               "steps of batch {} per worker, data: {}",
                               cfg.method, describe(st.method), mode, cfg.workers,
                               st.opts.setup.net->spec(), d, st.total_steps, cfg.batch,
                               st.opts.setup.data->description));
    if (!st.opts.setup.note.empty())
      st.report->say("dsq: " + st.opts.setup.note);
  }
  return {
      [=](register_atom, const worker_hello& hello) {
        auto& st = self->state;
        if (!hello.worker || !may_register(self, hello.worker))
          return; // a hello for somebody else's actor: not the sender's to give
        auto refuse = [&](std::string why, bool error) {
          self->send(hello.worker, reject_atom::value, farewell{std::move(why), error});
        };
        if (hello.protocol != protocol_version)
          return refuse(fmt::format("protocol version {} but the server speaks {}", hello.protocol,
                                    protocol_version),
                        true);
        if (st.now == phase::finishing)
          return refuse("the run has finished", true);
        if (st.members->find_if([&](const caf::actor& h) { return h == hello.worker; }))
          return; // registered already
        if (auto why = st.members->refusal())
          return refuse(*why, true);
        // A worker of the checkpoint this server resumed from gets its identity (and, in its
        // welcome, its state) back; anybody else is a new worker.
        std::optional<std::uint32_t> back;
        if (hello.returning)
          back = st.members->admit_returning(hello.previous_id, hello.worker, hello.host);
        auto id = back ? *back : st.members->admit(hello.worker, hello.host);
        if (back) {
          ++st.report->totals().returned_workers;
          st.report->say(fmt::format("worker {} ({}) is back", id, hello.host));
        }
        st.last_heard[id] = clock_type::now();
        self->monitor(hello.worker);
        if (st.now == phase::waiting) {
          // dsq server's workers come over the network, one by one, and may never come: say
          // who came. dsq local's come at once.
          if (!back && st.opts.elastic)
            st.report->say(fmt::format("worker {} ({}) registered; {}", id, hello.host,
                                       start_condition(self)));
          return maybe_start(self);
        }
        ++st.report->totals().joins;
        // Sync: a joiner waits for the next step boundary, unless no step is in progress.
        if (st.async() || (st.members->members().empty() && !st.policy->has_pending_pushes())) {
          cross_boundary(self, nullptr);
          send_grants(self);
        }
      },
      [=](push_atom, const gradient_push& p) {
        auto& st = self->state;
        auto id = sender_id(self);
        if (!id || *id != p.worker_id) {
          ++st.report->totals().ignored_pushes; // a stranger, or a worker using another's id
          return;
        }
        st.last_heard[*id] = clock_type::now();
        st.last_progress[*id] = st.last_heard[*id];
        if (st.now != phase::training || !st.members->is_member(*id)) {
          ++st.report->totals().ignored_pushes;
          return;
        }
        const auto key = push_key(st.async(), p);
        if (auto last = st.last_push.find(*id); last != st.last_push.end() && key <= last->second) {
          // A resend of a push in hand (its first copy, or an update since, was lost): the
          // same bytes, never applied twice. Say so, and send what the worker lacks.
          ++st.report->totals().retransmissions;
          self->send(st.members->get(*id)->handle, ack_atom::value, key);
          return catch_up(self, *id, p.step);
        }
        if (!std::isfinite(p.loss)) {
          // Computed on the shared model: the model diverged, or the worker lies.
          if (end_if_diverged(self, *id, "reports a loss that is not finite"))
            return;
          ++st.report->totals().rejected_pushes;
          return expel(
              self, *id,
              fmt::format("it reported a loss of {} on a model that has not diverged", p.loss));
        }
        received_push r;
        try {
          auto checked = st.checks->check(p.payload);
          r.c = std::move(checked.message);
          r.norm = checked.norm;
        } catch (const push_rejected& e) {
          // Honest gradients of a model that blows up get too large, then overflow.
          const bool blow_up = e.why() == push_rejected::reason::norm ||
                               e.why() == push_rejected::reason::not_finite;
          if (blow_up && end_if_diverged(self, *id, e.what()))
            return;
          ++st.report->totals().rejected_pushes;
          return expel(self, *id, e.what());
        }
        if (p.model_digest != 0 && p.step == st.version()) {
          if (p.model_digest != replica_digest(st.engine->x()))
            return expel(self, *id,
                         fmt::format("its replica differs from the server's model at step {}",
                                     st.version()));
          ++st.report->totals().verified_replicas;
        }
        r.worker = *id;
        r.step = p.step;
        r.loss = p.loss;
        r.bytes = p.payload.size();
        if (!st.policy->offer(std::move(r), st.version())) {
          ++st.report->totals().ignored_pushes; // late, early, or without a grant
          return catch_up(self, *id, p.step);
        }
        st.last_push[*id] = key;
        if (p.has_state && st.state_every > 0 && p.step % st.state_every == 0)
          st.collected[*id] = p.state;
        drain(self);
      },
      [=](heartbeat_atom) {
        if (auto id = sender_id(self))
          self->state.last_heard[*id] = clock_type::now();
      },
      [=](probe_atom, std::uint64_t pushed) {
        // A worker that has waited a while asks what became of its push (`pushed`: its key + 1,
        // or 0) and of its updates. Its earlier messages came before the probe, so a push not
        // in hand now was lost; the answer goes behind every update sent to it, so the worker
        // can tell a lost update from a slow one (worker.cpp, "retransmission").
        auto& st = self->state;
        auto id = training_member(self);
        if (!id) {
          // A worker waiting for its welcome (before the start, or for the next step boundary)
          // asks whether the server is still there: it is.
          if (auto waiting = sender_id(self); waiting && st.now != phase::finishing)
            self->send(st.members->get(*waiting)->handle, sent_atom::value, st.version());
          return;
        }
        const auto& handle = st.members->get(*id)->handle;
        if (pushed > 0) {
          const auto key = pushed - 1;
          if (auto last = st.last_push.find(*id);
              last != st.last_push.end() && key <= last->second) {
            self->send(handle, ack_atom::value, key);
          } else {
            self->send(handle, resend_atom::value, key);
            ++st.report->totals().retransmissions;
          }
        }
        if (auto g = st.policy->open_grant(*id)) {
          self->send(handle, grant_atom::value, g->version, g->number);
          ++st.report->totals().retransmissions;
        }
        self->send(handle, sent_atom::value, st.version());
      },
      [=](status_atom, std::uint64_t held) {
        // A worker that lacks updates after `held` (a probe's answer showed them lost).
        auto id = training_member(self);
        if (!id)
          return;
        catch_up(self, *id, held); // an open grant went with the probe's answer
      },
      [=](tick_atom) {
        check_liveness(self);
        auto period = std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::duration<double>(self->state.opts.cfg.worker_timeout_s / 4));
        if (self->state.now != phase::finishing)
          self->delayed_send(self, period, tick_atom::value);
      },
      [=](leave_atom, std::uint32_t id) {
        // Only a worker itself may announce its departure. The farewell tells it that the
        // leave arrived: its process may end now without losing it.
        if (auto sender = sender_id(self); sender && *sender == id) {
          depart(self, id, "left");
          self->send(caf::actor_cast<caf::actor>(self->current_sender()), shutdown_atom::value,
                     farewell{"left", false});
        }
      },
      [=](goodbye_atom) {
        if (self->current_sender() != self->ctrl())
          return;
        check_goodbyes(self);
      },
      [=](stop_atom) {
        // Only this process may stop the run (dsq's signal handler, tests): never the network.
        if (!from_this_process(self))
          return;
        auto& st = self->state;
        if (st.now == phase::finishing) { // a signal during the goodbye wait ends it
          st.goodbye_wait_over = true;
          return maybe_quit(self);
        }
        st.stopped_early = true;
        finish(self);
      },
      [=](lost_atom, const caf::actor_addr& worker, const std::string& why) {
        if (self->current_sender() != self->ctrl())
          return; // only the down handler says so
        if (auto id = member_at(self, worker))
          depart(self, *id, why);
      },
  };
}

} // namespace

server_options make_server_options(const run_config& cfg, training_setup setup) {
  server_options opts;
  opts.cfg = cfg;
  // Every output is checked before any training: a bad path is one clear error, at once.
  if (!cfg.resume.empty()) {
    opts.resume_from = read_checkpoint(cfg.resume);
    check_fits(*opts.resume_from, setup.net->num_parameters());
    check_same_training(*opts.resume_from, cfg);
    // A resumed run continues its metrics file rather than truncating it.
    opts.log = std::make_shared<run_log>(cfg.metrics, append_at_step{opts.resume_from->version});
  } else {
    opts.log = std::make_shared<run_log>(cfg.metrics);
  }
  if (!cfg.summary.empty())
    check_writable(cfg.summary, "summary");
  if (!cfg.checkpoint.empty())
    check_checkpoint_dir(cfg.checkpoint);
  // Every worker needs a non-empty shard; the run's length must make sense for this data.
  const auto samples = setup.data->train.size();
  total_steps(cfg, samples);
  if (std::max(cfg.workers, cfg.min_workers) > samples)
    throw config_error(fmt::format("{} workers but only {} training samples: every worker needs "
                                   "at least one",
                                   std::max(cfg.workers, cfg.min_workers), samples));
  opts.setup = std::move(setup);
  opts.verbose = !cfg.quiet;
  return opts;
}

caf::actor spawn_parameter_server(caf::actor_system& sys, server_options opts) {
  if (opts.in_middleman)
    return sys.middleman().spawn_broker(server_behavior<server_broker>, std::move(opts));
  if (opts.detached)
    return sys.spawn<caf::detached>(server_behavior<server_actor>, std::move(opts));
  return sys.spawn(server_behavior<server_actor>, std::move(opts));
}

} // namespace dsq
