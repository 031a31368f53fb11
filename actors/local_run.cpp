#include "actors/local_run.hpp"

#include "actors/fault_link.hpp"
#include "actors/shard_follower.hpp"
#include "actors/worker.hpp"

#include "net/protocol/atoms.hpp"
#include "net/protocol/messages.hpp"
#include "training/checkpoint.hpp"

#include <caf/all.hpp>
#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <vector>

namespace dsq {

namespace {

/// (server_lost_atom, worker): a worker lost its server and waits for (reconnect_atom, server).
using server_lost_atom = caf::atom_constant<caf::atom("srv_lost")>;

/// (fault_rejoin_atom, u32 worker, u64 version): a rejoin fault is due (from the crash hook).
using fault_rejoin_atom = caf::atom_constant<caf::atom("fl_rejoin")>;

/// The sentence a worker quit with (worker_core's stop reason), rather than CAF's rendering.
std::string reason_of(caf::actor_system& sys, const caf::error& err) {
  const auto& ctx = err.context();
  if (ctx.size() == 1 && ctx.match_element<std::string>(0))
    return ctx.get_as<std::string>(0);
  return sys.render(err);
}

/// Syncs the fault log at the end of a run; a failed write fails the run.
void sync_fault_log(fault_injector& faults, run_outcome& outcome) {
  try {
    faults.sync();
  } catch (const std::exception& e) {
    outcome.ok = false;
    if (outcome.error.empty())
      outcome.error = e.what();
  }
}

/// The server's options for `cfg`, with the fault plan's hooks. The crash hook, called after
/// every applied update, also tells `coordinator` when a rejoin is due.
server_options make_local_server_options(const run_config& cfg, const training_setup& setup,
                                         bool verbose, row_memory rows,
                                         const local_run_hooks& hooks,
                                         const std::shared_ptr<fault_injector>& faults,
                                         const caf::actor& coordinator = {}) {
  auto opts = make_server_options(cfg, setup);
  opts.verbose = verbose;
  opts.rows = rows;
  opts.on_row = hooks.on_row;
  opts.on_line = hooks.on_line;
  if (!faults)
    return opts;
  opts.faults_injected = [faults] { return faults->counts(); };
  const auto& plan = faults->plan();
  if (plan.server_crash || !plan.rejoin.empty())
    opts.crash_hook = [faults, coordinator](std::uint64_t version) {
      if (coordinator)
        for (const auto& f : faults->take_rejoins(version))
          caf::anon_send(coordinator, fault_rejoin_atom::value, f.worker, version);
      // Once per run: the restarted server gets the same hook, which then never fires.
      if (!faults->take_server_crash(version))
        return false;
      faults->record(version, fault_kind::server_crash, "");
      return true;
    };
  return opts;
}

/// A `dsq local` run with a fault plan: the workers, their links, and a server that may be
/// restarted once (with --servers=K, the leader: then every actor of the run restarts).
class faulty_cluster {
public:
  faulty_cluster(caf::actor_system& sys, caf::scoped_actor& self, const run_config& cfg,
                 training_setup setup, bool verbose, row_memory rows, local_run_hooks hooks,
                 std::shared_ptr<fault_injector> faults)
      : sys_(sys), self_(self), cfg_(cfg), setup_(std::move(setup)), verbose_(verbose), rows_(rows),
        hooks_(std::move(hooks)), faults_(std::move(faults)),
        next_id_(static_cast<std::uint32_t>(cfg.workers)) {}

  /// Spawns the server and registers the workers on their behalf, in id order.
  void start(server_options opts) {
    start_server_only(std::move(opts), cfg_.resume);
    for (std::uint32_t id = 0; id < cfg_.workers; ++id)
      spawn_one(id);
  }

  const caf::actor& server() const { return server_; }
  /// The actor that receives rejoin and server-lost reports: the run's own scoped actor.
  caf::actor coordinator() const { return caf::actor_cast<caf::actor>(self_); }
  std::shared_ptr<run_outcome> outcome() const { return outcome_; }

  /// A rejoin fault: a fresh worker joins through the elastic-join path.
  void rejoin(std::uint32_t replaced, std::uint64_t version) {
    faults_->record(version, fault_kind::rejoin, std::to_string(replaced));
    spawn_one(next_id_++);
  }

  /// The server went down. True: it was the injected crash, and it was restarted.
  bool restart_after(const caf::down_msg& dm) {
    if (restarted_ || dm.reason != caf::exit_reason::kill ||
        faults_->count(fault_kind::server_crash) == 0)
      return false;
    restarted_ = true;
    auto cfg = cfg_;
    if (std::filesystem::exists(std::filesystem::path{cfg_.checkpoint} / "server.ckpt")) {
      cfg.resume = cfg_.checkpoint;
    } else {
      cfg.resume.clear();
      say("dsq: no checkpoint was written before the server crashed: it restarts from the "
          "initial model");
    }
    say(fmt::format("dsq: the server crashed (--faults.server-crash); restarting it{}",
                    cfg.resume.empty() ? "" : " from " + cfg.resume));
    if (!followers_.empty()) {
      restart_every_shard(cfg);
      return true;
    }
    start_server_only(
        make_local_server_options(cfg, setup_, verbose_, rows_, hooks_, faults_, coordinator()),
        cfg.resume);
    for (auto& w : std::exchange(lost_, {}))
      reconnect(w);
    return true;
  }

  /// A worker lost its server: reconnect it once the server is back.
  void server_lost(const caf::actor& worker) {
    if (restarted_)
      reconnect(worker);
    else
      lost_.push_back(worker);
  }

  /// Ends every worker and link still running (a hung or orphaned one waits forever).
  void end() {
    for (auto& a : spawned_)
      self_->send_exit(a, caf::exit_reason::user_shutdown);
  }

private:
  void say(const std::string& line) const {
    if (!verbose_)
      return;
    if (hooks_.on_line)
      hooks_.on_line(line);
    else
      fmt::print("{}\n", line);
  }

  /// --servers=K: a sharded run's workers do not outlive a shard (net/PROTOCOL.md, "Shards"
  /// rule 8). So the leader's crash ends every follower, worker and link of the run, and all
  /// start again from the newest complete cut (`cfg.resume`; empty: from the start): the leader
  /// and the followers resume, and one new worker per member of the checkpoint takes its seat.
  void restart_every_shard(const run_config& cfg) {
    auto old = std::exchange(spawned_, {});
    for (const auto& f : followers_)
      if (f)
        old.push_back(f);
    for (const auto& a : old)
      self_->send_exit(a, caf::exit_reason::kill);
    // Gone before the new ones start: no old follower still touches the slice files.
    self_->wait_for(old);
    ids_.clear();
    lost_.clear();
    // The seats in id order: a new worker takes the lowest member's seat not yet taken, so the
    // i-th one spawned is the i-th member (its fault links are that member's).
    std::vector<std::uint32_t> seats;
    if (cfg.resume.empty())
      for (std::uint32_t id = 0; id < cfg_.workers; ++id)
        seats.push_back(id);
    else
      for (const auto& member : read_checkpoint(cfg.resume).members.members)
        seats.push_back(member.first);
    start_server_only(
        make_local_server_options(cfg, setup_, verbose_, rows_, hooks_, faults_, coordinator()),
        cfg.resume);
    for (const auto id : seats)
      spawn_one(id);
  }

  void start_server_only(server_options opts, const std::string& resume) {
    outcome_ = opts.outcome;
    server_ = spawn_parameter_server(sys_, std::move(opts));
    self_->monitor(server_);
    // --servers=K: shards 1..K−1 join this leader (a restarted one: restart_every_shard), and
    // each worker's link to each goes through a fault link of its own when the plan has message
    // faults on that worker's links.
    followers_.clear();
    for (std::uint32_t k = 1; k < cfg_.servers; ++k) {
      if (followers_.empty())
        followers_.emplace_back();
      follower_options f;
      f.shard = k;
      f.shards = static_cast<std::uint32_t>(cfg_.servers);
      f.leader = server_;
      f.storage = {cfg_.checkpoint, resume}; // one directory for every shard of the process
      f.on_line = hooks_.on_line;
      followers_.push_back(spawn_shard_follower(sys_, std::move(f)));
    }
  }

  /// Worker `id`'s ends toward the followers: fault links when its links have message faults.
  std::function<caf::actor(const caf::actor&, std::uint32_t, const caf::actor&)>
  follower_ends(std::uint32_t id) const {
    if (followers_.empty() || !faults_->needs_follower_link(id))
      return {};
    return [&sys = sys_, faults = faults_](const caf::actor& follower, std::uint32_t shard,
                                           const caf::actor& worker) {
      fault_link_options opts;
      opts.injector = faults;
      return link_to_follower(sys, follower, shard, worker, std::move(opts));
    };
  }

  /// The end a worker with id `id` talks to: the server, or a new link to it.
  caf::actor end_for(std::uint32_t id, const caf::actor& worker) {
    if (!faults_->needs_link(id))
      return server_;
    fault_link_options opts;
    opts.injector = faults_;
    auto link = spawn_fault_link(sys_, server_, std::move(opts));
    spawned_.push_back(link);
    if (worker)
      attach_worker(link, worker);
    return link;
  }

  void spawn_one(std::uint32_t id) {
    worker_options opts;
    opts.setup = setup_;
    opts.host = "local";
    opts.self_register = false;
    opts.cpu_slot = static_cast<int>(id);
    opts.local_shards = followers_;
    opts.shard_end = follower_ends(id);
    if (faults_->plan().server_crash && followers_.empty()) {
      // The worker keeps its state and waits to be told where the restarted server is (with
      // shards it ends with the leader: restart_every_shard replaces it).
      opts.on_server_lost = [coordinator = coordinator()](caf::actor worker) {
        caf::anon_send(coordinator, server_lost_atom::value, std::move(worker));
      };
    }
    auto end = end_for(id, {});
    auto worker = spawn_worker(sys_, end, std::move(opts));
    spawned_.push_back(worker);
    ids_[worker.address()] = id;
    const bool linked = end != server_;
    if (linked)
      attach_worker(end, worker); // before the registration below: both are anon_sends
    // Registered on its behalf, in order, as spawn_local_workers does: ids follow spawn order.
    // A linked worker is registered as its link, the actor the server will talk to.
    caf::anon_send(server_, register_atom::value,
                   worker_hello{protocol_version, linked ? end : worker, "local"});
  }

  void reconnect(const caf::actor& worker) {
    auto id = ids_.find(worker.address());
    auto end = end_for(id != ids_.end() ? id->second : 0, worker);
    caf::anon_send(worker, reconnect_atom::value, end);
  }

  caf::actor_system& sys_;
  caf::scoped_actor& self_;
  run_config cfg_;
  training_setup setup_;
  bool verbose_;
  row_memory rows_;
  local_run_hooks hooks_;
  std::shared_ptr<fault_injector> faults_;
  std::uint32_t next_id_;
  caf::actor server_;
  std::vector<caf::actor> followers_; ///< --servers=K: [k] is shard k (k >= 1); empty: K = 1
  std::shared_ptr<run_outcome> outcome_;
  std::vector<caf::actor> spawned_;
  std::map<caf::actor_addr, std::uint32_t> ids_;
  std::vector<caf::actor> lost_;
  bool restarted_ = false;
};

run_outcome run_faulty(caf::actor_system& sys, const run_config& cfg, training_setup setup,
                       bool verbose, const std::atomic<bool>* stop,
                       std::shared_ptr<fault_injector> faults, row_memory rows,
                       const local_run_hooks& hooks) {
  caf::scoped_actor self{sys};
  faulty_cluster cluster{sys, self, cfg, setup, verbose, rows, hooks, faults};
  cluster.start(
      make_local_server_options(cfg, setup, verbose, rows, hooks, faults, cluster.coordinator()));
  bool done = false, stop_sent = false;
  while (!done)
    self->receive(
        [&](caf::down_msg& dm) {
          if (dm.source != cluster.server().address())
            return;
          try {
            if (cluster.restart_after(dm)) {
              stop_sent = false;
              return;
            }
          } catch (const std::exception& e) {
            cluster.outcome()->error = fmt::format("restarting the crashed server: {}", e.what());
            done = true;
            return;
          }
          if (dm.reason && cluster.outcome()->error.empty())
            cluster.outcome()->error = sys.render(dm.reason);
          done = true;
        },
        [&](fault_rejoin_atom, std::uint32_t worker, std::uint64_t version) {
          cluster.rejoin(worker, version);
        },
        [&](server_lost_atom, const caf::actor& worker) { cluster.server_lost(worker); },
        caf::after(std::chrono::milliseconds(100)) >>
            [&] {
              if (stop != nullptr && *stop && !stop_sent) {
                self->send(cluster.server(), stop_atom::value);
                stop_sent = true;
              }
            });
  cluster.end();
  auto outcome = *cluster.outcome();
  outcome.summary.faults_injected = faults->counts();
  sync_fault_log(*faults, outcome);
  return outcome;
}

} // namespace

run_outcome run_local(caf::actor_system& sys, const run_config& cfg, training_setup setup,
                      bool verbose, const std::atomic<bool>* stop,
                      std::shared_ptr<fault_injector> faults, row_memory rows,
                      local_run_hooks hooks) {
  // A plan that injects nothing takes exactly the fault-free path: no link, no hook.
  if (faults && !faults->plan().empty())
    return run_faulty(sys, cfg, std::move(setup), verbose, stop, std::move(faults), rows, hooks);
  auto opts = make_local_server_options(cfg, setup, verbose, rows, hooks, faults);
  auto outcome = opts.outcome;
  auto server = spawn_parameter_server(sys, std::move(opts));
  caf::scoped_actor self{sys};
  self->monitor(server);
  // --servers=K: shards 1..K−1 as actors of this process; they join the leader at once, and the
  // workers find them by shard (the welcome's endpoints are empty).
  std::vector<caf::actor> shards(1);
  for (std::uint32_t k = 1; k < cfg.servers; ++k) {
    follower_options f;
    f.shard = k;
    f.shards = static_cast<std::uint32_t>(cfg.servers);
    f.leader = server;
    f.storage = {cfg.checkpoint, cfg.resume}; // one directory for every shard of the process
    f.on_line = hooks.on_line;
    shards.push_back(spawn_shard_follower(sys, std::move(f)));
  }
  if (cfg.servers <= 1)
    shards.clear();
  // A worker that fails (its model returned what cannot be trained on, ...) fails the run: it
  // is this process's own code, not a peer that may come back.
  for (const auto& worker : spawn_local_workers(sys, server, setup, cfg.workers, true, {}, shards))
    self->monitor(worker);
  bool done = false, stop_sent = false;
  std::string worker_failure;
  while (!done)
    self->receive(
        [&](caf::down_msg& dm) {
          if (dm.source != server.address()) {
            if (dm.reason && worker_failure.empty()) {
              worker_failure = reason_of(sys, dm.reason);
              self->send(server, stop_atom::value);
              stop_sent = true;
            }
            return;
          }
          if (dm.reason && outcome->error.empty())
            outcome->error = sys.render(dm.reason);
          done = true;
        },
        // A stop (SIGINT/SIGTERM in dsq) ends the run as on a server: outputs are written.
        caf::after(std::chrono::milliseconds(100)) >>
            [&] {
              if (stop != nullptr && *stop && !stop_sent) {
                self->send(server, stop_atom::value);
                stop_sent = true;
              }
            });
  auto result = *outcome;
  if (!worker_failure.empty() && !result.summary.diverged) {
    // The worker's error is the cause. The server says it already when the worker told it why
    // (worker_failures); else it may have ended first, with a consequence of it ("every worker
    // is gone"), depending on which down message arrived first.
    result.ok = false;
    if (result.summary.worker_failures == 0 || result.error.empty())
      result.error = result.error.empty()
                         ? worker_failure
                         : fmt::format("{} (then: {})", worker_failure, result.error);
  }
  if (faults)
    sync_fault_log(*faults, result); // the log's header, written at start
  return result;
}

} // namespace dsq
