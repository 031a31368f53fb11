#include "actors/parameter_server.hpp"

#include "training/checkpoint.hpp"
#include "training/double_squeeze.hpp"
#include "actors/evaluator.hpp"
#include "compression/wire.hpp"
#include "config/method.hpp"
#include "model/lr_schedule.hpp"
#include "net/atoms.hpp"
#include "net/messages.hpp"

#include <caf/all.hpp>
#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <map>
#include <optional>

namespace dsq {

namespace {

using clock_type = std::chrono::steady_clock;

struct member {
  caf::actor handle;
  std::string host;
};

struct received_push {
  compressed_message c;
  float loss = 0;
  std::size_t bytes = 0;
};

enum class phase { waiting, training, finishing };

struct server_state {
  server_options opts;
  method_switches method;
  caf::actor evaluator;
  Eigen::VectorXf x, average, scratch;
  std::optional<momentum> mom;
  std::optional<compression_pass> downlink;
  std::optional<lr_schedule> schedule;
  rng_engine rng{0};
  std::uint64_t version = 0;
  std::uint64_t first_version = 0; ///< where this run started (non-zero when resumed)
  std::uint64_t total_steps = 0;
  phase now = phase::waiting;
  std::map<std::uint32_t, member> members;       ///< in the barrier
  std::map<std::uint32_t, member> joining;       ///< enter the barrier at the next step boundary
  std::map<std::uint32_t, received_push> pushes; ///< for step `version`, ordered by worker id
  bool membership_changed = false;
  std::uint64_t generation = 0;
  std::uint32_t next_id = 0;
  std::shared_ptr<run_log> log;
  std::size_t evals_in_flight = 0;
  std::uint64_t joins = 0, departures = 0, ignored = 0, verified = 0;
  clock_type::time_point start;
  std::string failure;
  bool stopped_early = false;

  static inline const char* name = "dsq_parameter_server";

  double elapsed() const {
    return std::chrono::duration<double>(clock_type::now() - start).count();
  }
  std::size_t dim() const { return static_cast<std::size_t>(x.size()); }
};

using server_actor = caf::stateful_actor<server_state>;

void finish(server_actor* self, std::string failure = {});
void save_checkpoint(server_actor* self);

std::string human_bytes(std::uint64_t bytes) {
  auto b = static_cast<double>(bytes);
  if (b >= 1e9)
    return fmt::format("{:.2f} GB", b / 1e9);
  if (b >= 1e6)
    return fmt::format("{:.1f} MB", b / 1e6);
  return fmt::format("{:.1f} kB", b / 1e3);
}

welcome make_welcome(server_actor* self, std::uint32_t id, const shard_assignment& shard) {
  auto& st = self->state;
  welcome w;
  w.worker_id = id;
  w.config = st.opts.cfg;
  w.version = st.version;
  w.total_steps = st.total_steps;
  w.model.assign(st.x.data(), st.x.data() + st.x.size());
  if (st.mom)
    w.momentum.assign(st.mom->buffer().data(), st.mom->buffer().data() + st.mom->buffer().size());
  w.shard = shard;
  return w;
}

void print_progress(server_actor* self, const step_record& row) {
  auto& st = self->state;
  if (!st.opts.verbose)
    return;
  auto train =
      std::isnan(row.train_loss) ? std::string{"  -   "} : fmt::format("{:.4f}", row.train_loss);
  fmt::print("step {:>6}/{}  train_loss {}  test_loss {:.4f}  test_acc {:.2f}%  up {}  down {}  "
             "{:.1f} steps/s  workers {}\n",
             row.step, st.total_steps, train, row.test_loss, 100 * row.test_accuracy,
             human_bytes(row.total_bytes_up), human_bytes(row.total_bytes_down),
             row.wall_s > 0 ? static_cast<double>(row.step - st.first_version) / row.wall_s : 0.0,
             row.workers);
  std::fflush(stdout);
}

void maybe_quit(server_actor* self) {
  auto& st = self->state;
  if (st.now != phase::finishing || st.evals_in_flight > 0)
    return;
  st.log->flush(true);
  auto& out = *st.opts.outcome;
  const auto& cfg = st.opts.cfg;
  run_summary& s = out.summary;
  s.method = cfg.method;
  s.uplink = st.method.uplink;
  s.downlink = st.method.downlink;
  s.model = st.opts.setup.net->spec();
  s.dataset = st.opts.setup.data->description;
  s.mode = cfg.mode;
  s.parameters = st.dim();
  s.seed = cfg.seed;
  s.workers = st.next_id; // every worker that took part
  s.steps = st.version;
  s.bytes_up = st.log->bytes_up();
  s.bytes_down = st.log->bytes_down();
  s.wall_s = st.elapsed();
  s.steps_per_s = s.wall_s > 0 ? static_cast<double>(st.version - st.first_version) / s.wall_s : 0;
  s.joins = st.joins;
  s.departures = st.departures;
  s.ignored_pushes = st.ignored;
  s.verified_replicas = st.verified;
  s.completed = st.failure.empty() && st.version == st.total_steps;
  s.note = !st.failure.empty() ? st.failure
           : st.stopped_early  ? fmt::format("stopped at step {} of {}", st.version, st.total_steps)
                               : std::string{};
  if (auto last = st.log->last_evaluated()) {
    s.test_loss = last->test_loss;
    s.test_accuracy = last->test_accuracy;
  }
  out.model = st.x;
  out.rows = st.log->rows();
  out.ok = st.failure.empty();
  out.error = st.failure;
  try {
    if (!cfg.summary.empty())
      write_summary(cfg.summary, s);
  } catch (const std::exception& e) {
    out.ok = false;
    out.error = e.what();
  }
  if (st.opts.verbose) {
    // What the same pushes and updates would have cost in fp32: the saving compression buys.
    std::uint64_t pushes = 0;
    for (std::size_t i = 1; i < out.rows.size(); ++i) // row 0 is the initial model
      pushes += out.rows[i].workers;
    const double dense_bytes = 4.0 * static_cast<double>(st.dim()) * static_cast<double>(pushes);
    fmt::print("done: {} steps in {:.1f} s ({:.1f} steps/s), train_loss {:.4f}, test_loss {:.4f}, "
               "test_acc {:.2f}%, traffic up {} down {}",
               s.steps, s.wall_s, s.steps_per_s, s.final_train_loss, s.test_loss,
               100 * s.test_accuracy, human_bytes(s.bytes_up), human_bytes(s.bytes_down));
    if (s.bytes_up > 0)
      fmt::print(" ({:.1f}x less than fp32 uplink)", dense_bytes / static_cast<double>(s.bytes_up));
    fmt::print("\n");
  }
  self->send_exit(st.evaluator, caf::exit_reason::user_shutdown);
  if (out.ok)
    self->quit();
  else
    self->quit(caf::make_error(caf::sec::runtime_error, out.error));
}

/// Asks the evaluator about x_version; the row of that step waits in the log for the answer.
void request_evaluation(server_actor* self, bool with_train) {
  auto& st = self->state;
  auto step = st.version;
  ++st.evals_in_flight;
  std::vector<float> params(st.x.data(), st.x.data() + st.x.size());
  self->request(st.evaluator, caf::infinite, eval_atom::value, step, std::move(params), with_train)
      .then(
          [=](double test_loss, double test_accuracy, double train_loss) {
            auto& st = self->state;
            --st.evals_in_flight;
            auto row = st.log->set_evaluation(step, test_loss, test_accuracy);
            st.log->flush();
            if (with_train)
              st.opts.outcome->summary.final_train_loss = train_loss;
            if (row != nullptr)
              print_progress(self, *row);
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

/// Shard i of n for the members (and joiners) in id order: every sample belongs to exactly
/// one live worker.
std::map<std::uint32_t, shard_assignment> assign_shards(server_actor* self) {
  auto& st = self->state;
  std::vector<std::uint32_t> ids;
  for (auto& [id, m] : st.members)
    ids.push_back(id);
  for (auto& [id, m] : st.joining)
    ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  ++st.generation;
  std::map<std::uint32_t, shard_assignment> result;
  for (std::uint32_t i = 0; i < ids.size(); ++i)
    result[ids[i]] = shard_assignment{st.generation, i, static_cast<std::uint32_t>(ids.size())};
  return result;
}

/// Step boundary: re-shard if membership changed, broadcast `update` to the members, then
/// welcome the workers that were waiting to join (with the model that includes `update`).
void cross_boundary(server_actor* self, std::optional<model_update> update) {
  auto& st = self->state;
  std::map<std::uint32_t, shard_assignment> shards;
  if (st.membership_changed || !st.joining.empty()) {
    shards = assign_shards(self);
    for (auto& [id, m] : st.members)
      self->send(m.handle, reshard_atom::value, shards[id]);
    st.membership_changed = false;
  }
  if (update) {
    // One message object for all recipients: in one process they share the payload, which
    // moves in rather than being copied.
    auto msg = caf::make_message(update_atom::value, std::move(*update));
    for (auto& [id, m] : st.members)
      self->send(m.handle, msg);
  }
  for (auto& [id, m] : st.joining) {
    self->send(m.handle, welcome_atom::value, make_welcome(self, id, shards[id]));
    if (st.opts.verbose && st.now == phase::training && st.version > st.first_version)
      fmt::print("worker {} ({}) joins at step {}\n", id, m.host, st.version);
    st.members.emplace(id, std::move(m));
  }
  st.joining.clear();
}

void complete_step(server_actor* self) {
  auto& st = self->state;
  std::vector<compressed_message> cs;
  cs.reserve(st.pushes.size());
  double loss_sum = 0;
  std::uint64_t bytes_up = 0;
  for (auto& [id, p] : st.pushes) { // std::map: worker id order, the same in every run
    cs.push_back(std::move(p.c));
    loss_sum += p.loss;
    bytes_up += p.bytes;
  }
  const auto n = cs.size();
  st.pushes.clear();
  auto c = server_aggregate(cs, *st.downlink, st.average, st.rng);
  model_update update{st.version + 1, to_bytes(c)};
  const float lr = st.schedule->at(st.version, static_cast<float>(st.opts.cfg.lr));
  const std::uint64_t bytes_down = update.payload.size() * st.members.size();
  // The workers wait for the update; nobody waits for the server's copy of x_{t+1} or for the
  // log, so those come after the send, which takes the server's update (a pass over x) off
  // the critical path. Only welcoming joiners needs x_{t+1} (and its momentum) first.
  const bool welcomes = !st.joining.empty();
  if (welcomes)
    apply_update(c, lr, st.mom ? &*st.mom : nullptr, st.x, st.scratch);
  ++st.version;
  cross_boundary(self, std::move(update));
  if (!welcomes)
    apply_update(c, lr, st.mom ? &*st.mom : nullptr, st.x, st.scratch);

  step_record row;
  row.step = st.version;
  row.wall_s = st.elapsed();
  row.train_loss = loss_sum / static_cast<double>(n);
  row.bytes_up = bytes_up;
  row.bytes_down = bytes_down;
  row.workers = static_cast<std::uint32_t>(n);
  row.lr = lr;
  const bool last = st.version == st.total_steps;
  const auto every = st.opts.cfg.eval_every;
  const bool evaluate_now = !last && every > 0 && st.version % every == 0;
  st.log->record(row, evaluate_now || last);
  st.log->flush();
  if (evaluate_now)
    request_evaluation(self, false);
  const auto ckpt_every = st.opts.cfg.checkpoint_every;
  if (!last && ckpt_every > 0 && !st.opts.cfg.checkpoint.empty() && st.version % ckpt_every == 0) {
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

void maybe_complete(server_actor* self) {
  auto& st = self->state;
  if (st.now != phase::training)
    return;
  for (auto& [id, m] : st.members)
    if (st.pushes.count(id) == 0)
      return;
  if (!st.pushes.empty()) {
    complete_step(self);
    if (st.now != phase::training)
      return;
  }
  // Also after a step that the last member pushed to before it left: nobody is left to push.
  if (st.members.empty() && st.joining.empty() && !st.opts.elastic)
    finish(self, fmt::format("every worker is gone at step {}", st.version));
}

void depart(server_actor* self, std::uint32_t id, const std::string& why) {
  auto& st = self->state;
  if (st.joining.erase(id) > 0) {
    // Nobody else will come to a local run: it cannot reach its quorum any more.
    if (st.now == phase::waiting && !st.opts.elastic)
      finish(self, fmt::format("worker {} is gone before training started ({})", id, why));
    return;
  }
  auto it = st.members.find(id);
  if (it == st.members.end())
    return;
  st.members.erase(it);
  if (st.now == phase::finishing)
    return; // workers quitting at the end are not departures
  ++st.departures;
  st.membership_changed = true;
  if (st.opts.verbose && st.now != phase::finishing)
    fmt::print("worker {} left at step {} ({}); its uplink residual is lost, {} workers remain\n",
               id, st.version, why, st.members.size());
  maybe_complete(self);
}

void start_training(server_actor* self) {
  auto& st = self->state;
  st.now = phase::training;
  st.start = clock_type::now();
  step_record initial; // the first row: the initial (or resumed) model
  initial.step = st.version;
  initial.workers = static_cast<std::uint32_t>(st.joining.size());
  const bool nothing_to_do = st.version >= st.total_steps;
  st.log->record(initial, true);
  request_evaluation(self, nothing_to_do);
  cross_boundary(self, std::nullopt);
  if (nothing_to_do)
    finish(self);
}

void save_checkpoint(server_actor* self) {
  auto& st = self->state;
  checkpoint ckpt;
  ckpt.version = st.version;
  ckpt.model = st.x;
  auto delta = st.downlink->residual();
  ckpt.server_residual =
      Eigen::Map<const Eigen::VectorXf>(delta.data(), static_cast<Eigen::Index>(delta.size()));
  if (st.mom)
    ckpt.momentum = st.mom->buffer();
  write_checkpoint(st.opts.cfg.checkpoint, ckpt);
  if (st.opts.verbose)
    fmt::print("checkpoint of step {} written to {}\n", st.version, st.opts.cfg.checkpoint);
}

void finish(server_actor* self, std::string failure) {
  auto& st = self->state;
  if (st.now == phase::finishing)
    return;
  auto previous = st.now;
  st.now = phase::finishing;
  st.failure = std::move(failure);
  if (!st.opts.cfg.checkpoint.empty()) {
    try {
      save_checkpoint(self);
    } catch (const std::exception& e) {
      if (st.failure.empty())
        st.failure = e.what();
    }
  }
  farewell bye{st.failure.empty() ? "training finished" : st.failure, false};
  for (auto& [id, m] : st.members)
    self->send(m.handle, shutdown_atom::value, bye);
  for (auto& [id, m] : st.joining)
    self->send(m.handle, shutdown_atom::value, bye);
  // The final evaluation, including the loss on the whole training set; start_training asked
  // for it already when no step was made.
  if (previous == phase::training && st.version > st.first_version)
    request_evaluation(self, true);
  else if (previous == phase::waiting)
    st.start = clock_type::now();
  maybe_quit(self);
}

caf::behavior server_behavior(server_actor* self, server_options opts) {
  auto& st = self->state;
  st.opts = std::move(opts);
  const auto& cfg = st.opts.cfg;
  st.method = resolve_method(cfg);
  const auto d = st.opts.setup.net->num_parameters();
  st.x.resize(static_cast<Eigen::Index>(d));
  st.opts.setup.net->initialize(st.x, cfg.seed);
  st.average.resize(static_cast<Eigen::Index>(d));
  if (cfg.momentum > 0)
    st.mom.emplace(d, static_cast<float>(cfg.momentum));
  st.downlink.emplace(st.method.downlink, st.method.downlink_residual, d);
  st.schedule.emplace(parse_lr_schedule(cfg.lr_schedule));
  st.rng = rng_engine{mix_seed(cfg.seed, 999)};
  if (const auto& ckpt = st.opts.resume_from) {
    st.x = ckpt->model;
    st.version = ckpt->version;
    st.first_version = ckpt->version;
    st.downlink->restore_residual(
        {ckpt->server_residual.data(), static_cast<std::size_t>(ckpt->server_residual.size())});
    if (st.mom && ckpt->momentum.size() == st.x.size())
      st.mom->buffer() = ckpt->momentum;
  }
  st.total_steps = total_steps(cfg, st.opts.setup.data->train.size());
  // Opened by make_server_options, so that a bad path fails before anything runs.
  st.log = st.opts.log ? st.opts.log : std::make_shared<run_log>(std::string{});
  st.evaluator = spawn_evaluator(self->system(), st.opts.setup);
  st.start = clock_type::now();
  self->set_down_handler([=](caf::down_msg& dm) {
    for (auto* group : {&self->state.members, &self->state.joining})
      for (auto& [id, m] : *group)
        if (m.handle.address() == dm.source) {
          depart(self, id, "connection lost: " + self->system().render(dm.reason));
          return;
        }
  });
  if (st.opts.verbose) {
    fmt::print("dsq: {} ({}), {} workers, model {} with {} parameters, {} steps of batch {} "
               "per worker, data: {}\n",
               cfg.method, describe(st.method), cfg.workers, st.opts.setup.net->spec(), d,
               st.total_steps, cfg.batch, st.opts.setup.data->description);
    if (!st.opts.setup.note.empty())
      fmt::print("dsq: {}\n", st.opts.setup.note);
    std::fflush(stdout);
  }
  return {
      [=](register_atom, const worker_hello& hello) {
        auto& st = self->state;
        if (!hello.worker)
          return;
        if (hello.protocol != protocol_version) {
          self->send(hello.worker, reject_atom::value,
                     farewell{fmt::format("protocol version {} but the server speaks {}",
                                          hello.protocol, protocol_version),
                              true});
          return;
        }
        if (st.now == phase::finishing) {
          self->send(hello.worker, reject_atom::value, farewell{"the run has finished", true});
          return;
        }
        const auto cap = st.opts.cfg.max_workers;
        if (cap > 0 && st.members.size() + st.joining.size() >= cap) {
          self->send(hello.worker, reject_atom::value,
                     farewell{fmt::format("the server is full ({} workers)", cap), false});
          return;
        }
        if (st.members.size() + st.joining.size() >= st.opts.setup.data->train.size()) {
          self->send(hello.worker, reject_atom::value,
                     farewell{"every training sample already has a worker", false});
          return;
        }
        auto id = st.next_id++;
        self->monitor(hello.worker);
        st.joining.emplace(id, member{hello.worker, hello.host});
        auto min_workers =
            st.opts.cfg.min_workers > 0 ? st.opts.cfg.min_workers : st.opts.cfg.workers;
        if (st.now == phase::waiting) {
          if (st.joining.size() >= min_workers)
            start_training(self);
        } else if (st.members.empty() && st.pushes.empty()) {
          ++st.joins;
          cross_boundary(self, std::nullopt); // no step in progress: this is a boundary
        } else {
          ++st.joins;
        }
      },
      [=](push_atom, gradient_push& p) {
        auto& st = self->state;
        if (st.now != phase::training || st.members.count(p.worker_id) == 0 ||
            p.step != st.version || st.pushes.count(p.worker_id) > 0) {
          ++st.ignored; // late, early, duplicate, or from a worker that already left
          return;
        }
        received_push r;
        try {
          decode_limits limits;
          limits.max_dimension = static_cast<std::uint32_t>(st.dim());
          r.c = from_bytes(p.payload, limits);
          if (r.c.dimension() != st.dim())
            throw decode_error("dimension " + std::to_string(r.c.dimension()) + ", expected " +
                               std::to_string(st.dim()));
        } catch (const std::exception& e) {
          auto handle = st.members[p.worker_id].handle;
          self->send(handle, shutdown_atom::value,
                     farewell{std::string{"corrupt gradient: "} + e.what(), true});
          depart(self, p.worker_id, std::string{"corrupt gradient: "} + e.what());
          return;
        }
        if (p.model_digest != 0) {
          if (p.model_digest != replica_digest(st.x)) {
            auto why =
                fmt::format("its replica differs from the server's model at step {}", st.version);
            self->send(st.members[p.worker_id].handle, shutdown_atom::value, farewell{why, true});
            depart(self, p.worker_id, why);
            return;
          }
          ++st.verified;
        }
        r.loss = p.loss;
        r.bytes = p.payload.size();
        st.pushes.emplace(p.worker_id, std::move(r));
        maybe_complete(self);
      },
      [=](leave_atom, std::uint32_t id) {
        // Only a worker itself may announce its departure.
        auto& st = self->state;
        for (auto* group : {&st.members, &st.joining})
          if (auto it = group->find(id);
              it != group->end() && it->second.handle.address() == self->current_sender())
            return depart(self, id, "left");
      },
      [=](stop_atom) {
        self->state.stopped_early = true;
        finish(self);
      },
  };
}

} // namespace

server_options make_server_options(const run_config& cfg, training_setup setup) {
  server_options opts;
  opts.cfg = cfg;
  opts.log = std::make_shared<run_log>(cfg.metrics);
  if (!cfg.summary.empty())
    check_writable(cfg.summary, "summary");
  // Every worker needs a non-empty shard.
  const auto samples = setup.data->train.size();
  if (std::max(cfg.workers, cfg.min_workers) > samples)
    throw config_error(fmt::format("{} workers but only {} training samples: every worker needs "
                                   "at least one",
                                   std::max(cfg.workers, cfg.min_workers), samples));
  if (!cfg.resume.empty()) {
    opts.resume_from = read_checkpoint(cfg.resume);
    check_fits(*opts.resume_from, setup.net->num_parameters());
  }
  opts.setup = std::move(setup);
  opts.verbose = !cfg.quiet;
  return opts;
}

caf::actor spawn_parameter_server(caf::actor_system& sys, server_options opts) {
  return sys.spawn<caf::detached>(server_behavior, std::move(opts));
}

} // namespace dsq
