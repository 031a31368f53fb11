// A sharded run in one process without actors: the leader's server_core, K−1 follower
// shard_cores and fake workers, wired by a loop that delivers every effect in the order it was
// made (one FIFO: every channel keeps its order, as TCP does). The workers hold a full replica,
// compute a deterministic coordinate-wise "gradient" of it, push one slice per shard and apply
// a version once all K slices are in. Checks the properties on the server side: a
// K-shard sync run with the identity operator equals the unsharded one bit for bit, and in async
// mode no push applied on any shard has a staleness above τ, for K ∈ {1, 2, 3}.
#define BOOST_TEST_MODULE shard_cluster
#include <boost/test/unit_test.hpp>

#include "compression/make_compressor.hpp"
#include "compression/wire.hpp"
#include "config/method.hpp"
#include "tests/support/same_bits.hpp"
#include "training/server/server_core.hpp"
#include "training/shard/range_operator.hpp"
#include "training/shard/shard_core.hpp"
#include "training/shard/worker_shards.hpp"
#include "training/worker/worker_core.hpp"

#include <algorithm>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <vector>

using namespace dsq;
using dsq::testing::same_bits;
using namespace std::chrono_literals;

namespace {

run_config cluster_run(const std::string& mode, std::uint64_t workers) {
  run_config cfg;
  cfg.dataset = "synthetic:n=200,d=8,classes=2";
  cfg.model = "softmax";
  cfg.method = "sgd"; // identity up and down: coordinate-wise, so shards change nothing
  cfg.workers = workers;
  cfg.steps = 12;
  cfg.batch = 4;
  cfg.eval_every = 0;
  cfg.seed = 3;
  cfg.mode = mode;
  cfg.staleness = 2;
  cfg.worker_timeout_s = 0;
  cfg.momentum = 0.9;
  return cfg;
}

class cluster {
public:
  /// `real`: the workers are worker_cores (with worker_shards when K > 1), as in a worker
  /// process; else the fake workers below.
  cluster(run_config cfg, std::uint32_t shards, bool real = false)
      : cfg_(std::move(cfg)), k_(shards), real_(real) {
    server_setup s;
    s.cfg = cfg_;
    s.setup = load_training(cfg_);
    s.verbose = false;
    s.log = log_;
    log_->keep(row_memory::all);
    s.shards = shards;
    s.outcome = outcome_;
    leader_ = std::make_unique<server_core>(std::move(s), now_);
    ranges_ = shards > 1 ? leader_->ranges() : std::vector<key_range>{{0, dim()}};
    followers_.resize(shards);
    for (std::uint32_t k = 1; k < shards; ++k)
      followers_[k] = std::make_unique<shard_core>(k, shards, "");
  }

  std::uint64_t dim() const { return dim_of(); }

  /// Runs to the leader's end; false if it did not end within a bound of deliveries.
  bool run() {
    lead(leader_->start());
    for (std::uint32_t k = 1; k < k_; ++k)
      follow(k, followers_[k]->start());
    for (std::uint32_t i = 0; real_ && i < cfg_.workers; ++i) {
      worker_settings ws;
      ws.setup = load_training(cfg_);
      real_workers_.emplace_back(std::move(ws), now_);
      real_workers_.back().peer = i + 1;
      later([this, i] { act(real_workers_[i], 0, real_workers_[i].core.start(true, now_)); });
    }
    for (std::uint32_t i = 0; !real_ && i < cfg_.workers; ++i) {
      workers_.emplace_back();
      workers_.back().peer = i + 1;
      later([this, i] {
        registration r;
        r.peer = i + 1;
        lead(leader_->registered(r, now_));
      });
    }
    for (std::size_t n = 0; n < 1'000'000 && (!queue_.empty() || !timers_.empty()); ++n) {
      if (queue_.empty()) {
        // Nothing in flight: time passes, and the retry timers fire.
        now_ += 1s;
        queue_.swap(timers_);
      }
      now_ += 1ms;
      auto next = std::move(queue_.front());
      queue_.pop_front();
      next();
    }
    return stopped_;
  }

  /// Drops the updates and probe answers to worker `peer` (real workers) from when it holds
  /// version `from` while the leader is at a version <= `until`, as a worker whose link loses
  /// them for a while; when the cut ends the worker probes every shard.
  void cut_off(peer_id peer, std::uint64_t from, std::uint64_t until) {
    cut_ = cut{peer, from, until};
  }
  /// Worker `peer`'s slice push of `step` to shard `shard` carries a wrong digest, as from a
  /// replica whose range `shard` differs (--verify-replicas).
  void corrupt_digest(peer_id peer, std::uint32_t shard, std::uint64_t step) {
    bad_digest_ = bad_digest{peer, shard, step};
  }
  /// The pushes of the cut off worker computed on a version past the cut.
  std::uint64_t pushes_past_cut() const { return pushes_past_cut_; }
  /// The versions of the resync parts (welcomes with resync) workers got, by shard.
  const std::map<std::uint32_t, std::set<std::uint64_t>>& resync_parts() const {
    return resync_parts_;
  }

  const run_outcome& outcome() const { return *outcome_; }
  /// The leader's rows.
  std::vector<step_record> rows() const { return log_->rows(); }
  /// Where the cores are, for a failure's message.
  std::string state() const {
    std::string out = "leader at " + std::to_string(leader_->version());
    for (std::uint32_t k = 1; k < k_; ++k)
      out += ", shard " + std::to_string(k) + " at " + std::to_string(followers_[k]->version()) +
             " holding " + std::to_string(followers_[k]->held(0)) + "/" +
             std::to_string(followers_[k]->held(1));
    for (const auto& w : real_workers_)
      out += ", worker at " + (w.core.joined() ? std::to_string(w.core.version()) : "-") +
             (w.done ? " done" : "");
    return out;
  }
  /// The largest staleness of a push in a commit that a follower received (0 without any).
  std::uint64_t follower_staleness() const { return follower_staleness_; }
  /// The commits each follower received.
  const std::map<std::uint32_t, std::uint64_t>& commits() const { return commits_; }
  /// Krum with K > 1: the distance queries each follower received, and the workers whose
  /// pushes the commits it received chose.
  const std::map<std::uint32_t, std::uint64_t>& queries() const { return queries_; }
  const std::map<std::uint32_t, std::vector<std::uint32_t>>& chosen() const { return chosen_; }
  /// The fake worker of this id pushes a lie: far from the others on every coordinate.
  void make_liar(std::uint32_t id) { liar_ = id; }
  std::vector<std::string> problems;

private:
  struct fake_worker {
    peer_id peer = 0;
    std::uint32_t id = 0;
    bool done = false;
    std::uint64_t version = 0;
    std::map<std::uint32_t, welcome> welcomes;
    std::vector<std::unique_ptr<update_engine>> replica; ///< per range, once welcomed
    std::map<std::uint64_t, std::map<std::uint32_t, std::vector<std::uint8_t>>> slices;
    std::deque<grant_msg> grants;
    std::optional<std::uint64_t> pushed_for; ///< sync: the version it pushed for last
  };

  std::uint64_t dim_of() const { return load_training(cfg_).net->num_parameters(); }

  void later(std::function<void()> f) { queue_.push_back(std::move(f)); }

  void lead(server_effects fx) {
    for (auto& e : fx) {
      if (auto* s = std::get_if<send_to>(&e)) {
        const auto peer = s->peer;
        auto what = s->what;
        later([this, peer, what] { to_worker(peer, 0, what); });
      } else if (auto* u = std::get_if<new_update>(&e)) {
        updates_[0][u->version] = u->payload;
      } else if (auto* r = std::get_if<evaluation_request>(&e)) {
        const auto step = r->step;
        const bool train = r->with_train;
        later([this, step, train] { lead(leader_->evaluated(step, train, 0.5, 0.5, 0.5)); });
      } else if (auto* m = std::get_if<send_to_shard>(&e)) {
        const auto k = m->shard;
        auto what = m->what;
        later([this, k, what] { to_follower(k, what); });
      } else if (std::holds_alternative<refuse_shard>(e)) {
        problems.push_back("the leader refused a follower: " + std::get<refuse_shard>(e).why);
      } else if (auto* stop = std::get_if<stop_server>(&e)) {
        stopped_ = true;
        if (stop->failed)
          problems.push_back("the leader failed: " + stop->error);
      }
    }
  }

  void to_follower(std::uint32_t k, const shard_message& m) {
    auto& f = *followers_[k];
    if (const auto* s = std::get_if<shard_setup>(&m))
      follow(k, f.set_up(*s, now_));
    else if (const auto* c = std::get_if<round_commit>(&m)) {
      ++commits_[k];
      for (auto i : c->chosen)
        chosen_[k].push_back(c->workers.at(i));
      for (std::size_t i = 0; i < c->workers.size(); ++i) {
        const auto step = pushed_steps_.at({c->workers[i], c->keys[i]});
        follower_staleness_ = std::max(follower_staleness_, c->version - 1 - step);
      }
      follow(k, f.committed(*c, now_));
    } else if (const auto* j = std::get_if<member_change>(&m))
      follow(k, f.member_changed(*j, now_));
    else if (const auto* e = std::get_if<shard_end>(&m))
      follow(k, f.ended(*e, now_));
    else if (const auto* q = std::get_if<distance_query>(&m)) {
      ++queries_[k];
      follow(k, f.distances_asked(*q, now_));
    }
  }

  void follow(std::uint32_t k, shard_effects fx) {
    for (auto& e : fx) {
      if (auto* s = std::get_if<send_to>(&e)) {
        const auto peer = s->peer;
        auto what = s->what;
        later([this, peer, k, what] { to_worker(peer, k, what); });
      } else if (auto* u = std::get_if<new_update>(&e)) {
        updates_[k][u->version] = u->payload;
      } else if (auto* t = std::get_if<to_leader>(&e)) {
        auto what = t->what;
        later([this, k, what] { from_follower(k, what); });
      } else if (auto* stop = std::get_if<stop_shard>(&e)) {
        if (stop->failed)
          problems.push_back(stop->error);
      }
    }
  }

  void from_follower(std::uint32_t k, const leader_message& m) {
    if (const auto* j = std::get_if<shard_join>(&m))
      lead(leader_->shard_joined(1000 + k, *j, now_));
    else if (const auto* h = std::get_if<slice_held>(&m))
      lead(leader_->shard_held(*h, now_));
    else if (const auto* r = std::get_if<slice_refused>(&m)) {
      if (!r->resync)
        problems.push_back("a slice was refused: " + r->why);
      lead(leader_->shard_refused(*r, now_));
    } else if (const auto* u = std::get_if<slice_update_msg>(&m))
      lead(leader_->shard_updated(model_update{u->version, updates_[k].at(u->version), k}, now_));
    else if (const auto* rep = std::get_if<shard_report>(&m))
      lead(leader_->shard_reported(*rep, now_));
    else if (const auto* t = std::get_if<slice_traffic>(&m))
      lead(leader_->shard_traffic(*t, now_));
    else if (const auto* d = std::get_if<distance_reply>(&m)) {
      if (!d->refused.empty())
        problems.push_back(d->refused);
      lead(leader_->shard_distances(*d, now_));
    }
  }

  void to_worker(peer_id peer, std::uint32_t shard, const worker_message& m) {
    if (real_)
      return to_real(real_workers_.at(peer - 1), shard, m);
    auto& w = workers_.at(peer - 1);
    if (w.done)
      return;
    if (const auto* wm = std::get_if<welcome_msg>(&m)) {
      if (wm->resync)
        problems.push_back("a resync in a loss-free run");
      w.welcomes[shard] = wm->w;
      if (shard == 0) {
        w.id = wm->w.worker_id;
        for (std::uint32_t k = 1; k < k_; ++k)
          later([this, peer, k, id = w.id] {
            registration r;
            r.peer = peer;
            r.returning = true;
            r.previous_id = id;
            follow(k, followers_[k]->registered(r, now_));
          });
      }
      if (w.welcomes.size() == k_)
        enter(w);
    } else if (const auto* u = std::get_if<update_msg>(&m)) {
      w.slices[u->version][shard] = updates_[shard].at(u->version);
      advance(w);
    } else if (const auto* g = std::get_if<grant_msg>(&m)) {
      w.grants.push_back(*g);
      work(w);
    } else if (std::holds_alternative<farewell_msg>(m)) {
      w.done = true;
    }
  }

  void enter(fake_worker& w) {
    w.version = w.welcomes.at(0).version;
    for (std::uint32_t k = 0; k < k_; ++k) {
      const auto& wk = w.welcomes.at(k);
      if (wk.version != w.version)
        problems.push_back("welcomes of different versions");
      w.replica.push_back(std::make_unique<update_engine>(cfg_, dim(), ranges_[k], k, wk.model,
                                                          wk.momentum, w.version));
    }
    advance(w);
    work(w);
  }

  /// Applies every version whose K slices are in, in order.
  void advance(fake_worker& w) {
    if (w.replica.empty())
      return;
    for (auto it = w.slices.find(w.version + 1); it != w.slices.end() && it->second.size() == k_;
         it = w.slices.find(w.version + 1)) {
      for (std::uint32_t k = 0; k < k_; ++k)
        w.replica[k]->apply(from_bytes(it->second.at(k)));
      ++w.version;
      w.slices.erase(it);
      if (cfg_.mode == "sync")
        work(w);
    }
    if (cfg_.mode != "sync")
      work(w);
  }

  /// Sync: a push for the version it holds; async: one per grant once it holds its version.
  void work(fake_worker& w) {
    if (w.replica.empty() || w.version >= total_steps())
      return;
    if (cfg_.mode == "sync") {
      if (w.pushed_for && *w.pushed_for == w.version)
        return;
      w.pushed_for = w.version;
      push(w, 0);
      return;
    }
    while (!w.grants.empty() && w.grants.front().version <= w.version) {
      push(w, w.grants.front().number);
      w.grants.pop_front();
    }
  }

  std::uint64_t total_steps() const { return static_cast<std::uint64_t>(cfg_.steps); }

  /// A coordinate-wise function of the replica, the worker and the step: the same values
  /// whatever the shards.
  void push(fake_worker& w, std::uint64_t grant) {
    const auto policy_key = cfg_.mode == "sync" ? w.version : grant;
    pushed_steps_[{w.id, policy_key}] = w.version;
    for (std::uint32_t k = 0; k < k_; ++k) {
      const auto& x = w.replica[k]->x();
      std::vector<float> g(static_cast<std::size_t>(x.size()));
      for (std::size_t i = 0; i < g.size(); ++i)
        g[i] = 0.3f * x[static_cast<Eigen::Index>(i)] + 0.01f * static_cast<float>(w.id + 1) -
               0.002f * static_cast<float>(w.version % 5) + (liar_ == w.id ? 3.0f : 0.0f);
      rng_engine rng{1};
      gradient_push p;
      p.worker_id = w.id;
      p.step = w.version;
      p.loss = 0.5f;
      p.grant = grant;
      p.shard = k;
      p.payload = to_bytes(
          make_compressor(range_operator_spec(resolve_method(cfg_).uplink, dim(), ranges_[k]))
              ->compress(g, rng));
      const auto peer = w.peer;
      later([this, peer, k, p] {
        if (k == 0)
          lead(leader_->pushed(peer, p, now_));
        else
          follow(k, followers_[k]->pushed(peer, p, now_));
      });
    }
  }

  // -- real workers: worker_core, through worker_shards when sharded ---------------------------

  struct real_worker {
    real_worker(worker_settings s, worker_core::time_point now) : core(std::move(s), now) {}
    worker_core core;
    std::unique_ptr<worker_shards> mux;
    peer_id peer = 0;
    bool done = false;
  };

  /// A message from shard `shard` to worker `w`, through its multiplexer once it has one.
  void to_real(real_worker& w, std::uint32_t shard, const worker_message& msg) {
    if (w.done)
      return;
    if (cut_ && w.peer == cut_->peer && !cut_->probed && w.core.joined() &&
        w.core.version() >= cut_->from) {
      if (leader_->version() <= cut_->until) {
        if (std::holds_alternative<update_msg>(msg) || std::holds_alternative<sent_msg>(msg))
          return; // lost
        return to_real_now(w, shard, msg);
      }
      // The cut ends: the worker's probe (as its retry timer would send it) to every shard.
      cut_->probed = true;
      later([this, &w] {
        if (w.done)
          return;
        if (w.mux)
          shards(w, w.mux->route({worker_effect::send_probe{0}}, now_));
        else
          act(w, 0, {worker_effect::send_probe{0}});
      });
    }
    to_real_now(w, shard, msg);
  }

  void to_real_now(real_worker& w, std::uint32_t shard, const worker_message& msg) {
    auto m = msg;
    auto& c = w.core;
    auto* x = w.mux.get();
    if (auto* wm = std::get_if<welcome_msg>(&m)) {
      if (!x && shard == 0 && !wm->resync && worker_shards::sharded(wm->w)) {
        w.mux = std::make_unique<worker_shards>(c, worker_core::duration{});
        x = w.mux.get();
      }
      if (wm->resync)
        resync_parts_[shard].insert(wm->w.version);
      if (wm->resync && !cut_)
        problems.push_back("a resync in a loss-free run");
      if (x)
        shards(w,
               wm->resync ? x->on_resync(shard, wm->w, now_) : x->on_welcome(shard, wm->w, now_));
      else
        act(w, 0, wm->resync ? c.on_resync(wm->w, now_) : c.on_welcome(wm->w));
    } else if (auto* g = std::get_if<grant_msg>(&m)) {
      x ? shards(w, x->on_grant(shard, g->version, g->number, now_))
        : act(w, 0, c.on_grant(g->version, g->number, now_));
    } else if (auto* r = std::get_if<reshard_msg>(&m)) {
      x ? shards(w, x->on_reshard(shard, r->shard, now_)) : act(w, 0, c.on_reshard(r->shard));
    } else if (auto* u = std::get_if<update_msg>(&m)) {
      model_update up{u->version, updates_[shard].at(u->version), shard};
      x ? shards(w, x->on_update(shard, up, now_)) : act(w, 0, c.on_update(up, now_));
    } else if (auto* a = std::get_if<ack_msg>(&m)) {
      x ? shards(w, x->on_ack(shard, a->key, now_)) : act(w, 0, c.on_ack(a->key, now_));
    } else if (auto* rs = std::get_if<resend_msg>(&m)) {
      x ? shards(w, x->on_resend(shard, rs->key, now_)) : act(w, 0, c.on_resend(rs->key));
    } else if (auto* st = std::get_if<sent_msg>(&m)) {
      x ? shards(w, x->on_sent(shard, st->version, now_)) : act(w, 0, c.on_sent(st->version));
    } else if (auto* f = std::get_if<farewell_msg>(&m)) {
      if (f->reject)
        x ? shards(w, x->on_reject(shard, f->bye, now_)) : act(w, 0, c.on_reject(f->bye));
      else
        x ? shards(w, x->on_shutdown(shard, f->bye, now_)) : act(w, 0, c.on_shutdown(f->bye, now_));
    }
    compute(w);
  }

  /// Computes and pushes every gradient that is due, as the worker's actor does after a message.
  void compute(real_worker& w) {
    while (!w.done && w.core.joined() && w.core.gradient_due()) {
      auto p = w.core.compute();
      if (w.mux)
        shards(w, w.mux->push(std::move(p), now_, now_));
      else
        act(w, 0, w.core.push(std::move(p), now_, now_));
    }
  }

  void shards(real_worker& w, worker_shard_effects fx) {
    for (auto& e : fx) {
      if (auto* s = std::get_if<worker_shard_effect::send_to>(&e))
        act(w, s->shard, {s->effect});
      else if (auto* c = std::get_if<worker_shard_effect::connect>(&e)) {
        const auto k = c->shard;
        later([this, &w, k] {
          if (!w.done)
            shards(w, w.mux->on_shard_connected(k, now_));
        });
      } else if (auto* l = std::get_if<worker_shard_effect::local>(&e))
        act(w, 0, {l->effect});
    }
  }

  /// Carries out worker effects addressed to shard `shard` (0: the leader, or the one server).
  void act(real_worker& w, std::uint32_t shard, worker_effects fx) {
    for (auto& e : fx) {
      if (auto* p = std::get_if<worker_effect::send_push>(&e)) {
        auto push = p->push;
        if (bad_digest_ && bad_digest_->peer == w.peer && bad_digest_->shard == shard &&
            bad_digest_->step == push.step)
          push.model_digest ^= 1;
        if (shard == 0)
          pushed_steps_[{push.worker_id, p->key}] = push.step;
        if (shard == 0 && cut_ && w.peer == cut_->peer && push.step > cut_->until)
          ++pushes_past_cut_;
        server_call(w, shard, [this, push, peer = w.peer](std::uint32_t k) {
          return k == 0 ? lead(leader_->pushed(peer, push, now_))
                        : follow(k, followers_[k]->pushed(peer, push, now_));
        });
      } else if (std::holds_alternative<worker_effect::resend_push>(e)) {
        problems.push_back("a resend in a loss-free run");
      } else if (auto* pr = std::get_if<worker_effect::send_probe>(&e)) {
        const auto pushed = pr->pushed;
        server_call(w, shard, [this, pushed, peer = w.peer](std::uint32_t k) {
          return k == 0 ? lead(leader_->probed(peer, pushed, now_))
                        : follow(k, followers_[k]->probed(peer, pushed, now_));
        });
      } else if (auto* st = std::get_if<worker_effect::send_status>(&e)) {
        const auto held = st->version;
        server_call(w, shard, [this, held, peer = w.peer](std::uint32_t k) {
          return k == 0 ? lead(leader_->status(peer, held, now_))
                        : follow(k, followers_[k]->status(peer, held, now_));
        });
      } else if (std::holds_alternative<worker_effect::send_heartbeat>(e)) {
        if (shard == 0)
          later([this, peer = w.peer] { lead(leader_->heartbeat(peer, now_)); });
      } else if (auto* r = std::get_if<worker_effect::send_register>(&e)) {
        registration reg;
        reg.peer = w.peer;
        reg.returning = r->returning;
        reg.previous_id = r->previous_id;
        server_call(w, shard, [this, reg](std::uint32_t k) {
          return k == 0 ? lead(leader_->registered(reg, now_))
                        : follow(k, followers_[k]->registered(reg, now_));
        });
      } else if (auto* l = std::get_if<worker_effect::send_leave>(&e)) {
        const auto id = l->id;
        later([this, id, peer = w.peer] { lead(leader_->left(peer, id, now_)); });
      } else if (auto* t = std::get_if<worker_effect::arm_timer>(&e)) {
        // The retry timer (probes: what a worker does when it waits); the others do not
        // matter in a loss-free run.
        if (t->which == worker_effect::timer::retry)
          timers_.push_back([this, &w] {
            if (w.done)
              return;
            if (w.mux)
              shards(w, w.mux->on_retry_timer(now_));
            else
              act(w, 0, w.core.on_retry_timer(now_));
            compute(w);
          });
      } else if (auto* s = std::get_if<worker_effect::stop>(&e)) {
        w.done = true;
        if (s->error)
          problems.push_back("a worker stopped with an error: " + s->reason);
      }
    }
  }

  template <class F>
  void server_call(real_worker&, std::uint32_t shard, F f) {
    later([f, shard] { f(shard); });
  }

  struct cut {
    peer_id peer = 0;
    std::uint64_t from = 0, until = 0;
    bool probed = false;
  };

  struct bad_digest {
    peer_id peer = 0;
    std::uint32_t shard = 0;
    std::uint64_t step = 0;
  };

  run_config cfg_;
  std::uint32_t k_;
  bool real_ = false;
  std::optional<cut> cut_;
  std::optional<bad_digest> bad_digest_;
  std::uint64_t pushes_past_cut_ = 0;
  std::map<std::uint32_t, std::set<std::uint64_t>> resync_parts_;
  std::deque<real_worker> real_workers_;
  server_core::time_point now_ = server_core::time_point{} + 1h;
  std::shared_ptr<run_outcome> outcome_ = std::make_shared<run_outcome>();
  std::shared_ptr<run_log> log_ = std::make_shared<run_log>("");
  std::unique_ptr<server_core> leader_;
  std::vector<key_range> ranges_;
  std::vector<std::unique_ptr<shard_core>> followers_;
  std::deque<fake_worker> workers_; ///< a deque: references stay valid as it grows
  std::map<std::uint32_t, std::map<std::uint64_t, std::vector<std::uint8_t>>> updates_;
  std::map<std::pair<std::uint32_t, std::uint64_t>, std::uint64_t> pushed_steps_;
  std::map<std::uint32_t, std::uint64_t> commits_;
  std::map<std::uint32_t, std::uint64_t> queries_;
  std::map<std::uint32_t, std::vector<std::uint32_t>> chosen_;
  std::optional<std::uint32_t> liar_;
  std::uint64_t follower_staleness_ = 0;
  std::deque<std::function<void()>> queue_;
  std::deque<std::function<void()>> timers_; ///< fire when nothing else is in flight
  bool stopped_ = false;
};

/// Runs `c` to its end and requires that it succeeded; its problems are logged and must be none.
void expect_clean_run(cluster& c) {
  BOOST_REQUIRE(c.run());
  for (const auto& p : c.problems)
    BOOST_TEST_MESSAGE(p);
  BOOST_TEST(c.problems.empty());
  BOOST_REQUIRE(c.outcome().ok);
}

} // namespace

BOOST_AUTO_TEST_CASE(a_sharded_sync_identity_run_equals_the_unsharded_one_bit_for_bit) {
  for (const std::string rule : {"mean", "median"}) { // median is coordinate-wise too
    auto cfg = cluster_run("sync", 3);
    cfg.aggregate = rule;
    cluster one{cfg, 1};
    expect_clean_run(one);
    BOOST_TEST(one.outcome().summary.steps == 12u);
    for (std::uint32_t k : {2u, 3u}) {
      cluster many{cfg, k};
      expect_clean_run(many);
      BOOST_TEST(many.outcome().summary.shards == k);
      for (std::uint32_t f = 1; f < k; ++f)
        BOOST_TEST(many.commits().at(f) == 12u);
      BOOST_TEST(same_bits(one.outcome().model, many.outcome().model),
                 "--aggregate=" << rule << ", K = " << k);
    }
  }
}

BOOST_AUTO_TEST_CASE(async_staleness_stays_within_the_bound_on_every_shard) {
  for (std::uint32_t k : {1u, 2u, 3u}) {
    const auto cfg = cluster_run("async", 4);
    cluster c{cfg, k};
    expect_clean_run(c);
    const auto& s = c.outcome().summary;
    BOOST_TEST(s.steps == 12u);
    BOOST_TEST(s.max_staleness <= 2u);        // the leader's shard
    BOOST_TEST(c.follower_staleness() <= 2u); // every follower applies the same commits
    for (std::uint32_t f = 1; f < k; ++f)
      BOOST_TEST(c.commits().at(f) == 12u);
    BOOST_TEST_MESSAGE("K = " << k << ": max staleness " << s.max_staleness);
  }
}

/// `cfg` with the workers' own cores (and multiplexers) through one shard and through K = 2 and
/// 3: every run makes its 12 steps without a problem, and K shards make the unsharded model and
/// final loss bit for bit (`label` names the case).
void expect_sharded_runs_equal_the_unsharded_one(const run_config& cfg, const std::string& label) {
  cluster one{cfg, 1, true};
  expect_clean_run(one);
  BOOST_TEST(one.outcome().summary.steps == 12u);
  for (std::uint32_t k : {2u, 3u}) {
    cluster many{cfg, k, true};
    expect_clean_run(many);
    BOOST_TEST(many.outcome().summary.steps == 12u);
    BOOST_TEST(same_bits(one.outcome().model, many.outcome().model), label << ", K = " << k);
    BOOST_TEST(one.outcome().summary.final_train_loss == many.outcome().summary.final_train_loss);
  }
}

BOOST_AUTO_TEST_CASE(with_worker_cores_a_sharded_sync_run_equals_the_unsharded_one_bit_for_bit) {
  // The workers' own cores (and multiplexers): a real gradient on the data, compressed per
  // range. identity (sgd) and fp16 with error feedback on both passes are coordinate-wise.
  for (const std::string method : {"sgd", "doublesqueeze"}) {
    auto cfg = cluster_run("sync", 3);
    cfg.method = method;
    cfg.compressor = "fp16";
    expect_sharded_runs_equal_the_unsharded_one(cfg, method);
  }
}

// Protocol 10: every row of a K-shard run carries each shard's bytes of its version and their
// sums; summed over the rows, each shard's bytes are its report's (the summary's per-shard
// fields), and a K = 1 row has no per-shard entries.
BOOST_AUTO_TEST_CASE(every_row_carries_the_bytes_of_every_shard_and_their_sums) {
  for (const std::string mode : {"sync", "async"}) {
    auto cfg = cluster_run(mode, 3);
    cfg.method = "doublesqueeze";
    cfg.compressor = "fp16";
    cluster one{cfg, 1, true};
    BOOST_REQUIRE(one.run());
    BOOST_REQUIRE(one.outcome().ok);
    for (const auto& r : one.rows())
      BOOST_TEST((r.shard_bytes_up.empty() && r.shard_bytes_down.empty()));
    for (std::uint32_t k : {2u, 3u}) {
      BOOST_TEST_CONTEXT(mode << ", K = " << k) {
        cluster many{cfg, k, true};
        BOOST_REQUIRE(many.run());
        BOOST_REQUIRE(many.outcome().ok);
        const auto& s = many.outcome().summary;
        const auto rows = many.rows();
        BOOST_REQUIRE_EQUAL(rows.size(), s.steps + 1); // row 0: the initial model
        std::vector<std::uint64_t> up(k, 0), down(k, 0);
        std::uint64_t total_up = 0, total_down = 0;
        for (const auto& r : rows) {
          BOOST_REQUIRE_EQUAL(r.shard_bytes_up.size(), k);
          BOOST_REQUIRE_EQUAL(r.shard_bytes_down.size(), k);
          std::uint64_t row_up = 0, row_down = 0;
          for (std::uint32_t j = 0; j < k; ++j) {
            up[j] += r.shard_bytes_up[j];
            down[j] += r.shard_bytes_down[j];
            row_up += r.shard_bytes_up[j];
            row_down += r.shard_bytes_down[j];
            if (r.step > 0) // every shard moved something at every version
              BOOST_TEST((r.shard_bytes_up[j] > 0 && r.shard_bytes_down[j] > 0));
          }
          BOOST_TEST(r.bytes_up == row_up);
          BOOST_TEST(r.bytes_down == row_down);
          total_up += r.bytes_up;
          total_down += r.bytes_down;
          BOOST_TEST(r.total_bytes_up == total_up);
          BOOST_TEST(r.total_bytes_down == total_down);
        }
        BOOST_TEST(up == s.shard_bytes_up, boost::test_tools::per_element());
        BOOST_TEST(down == s.shard_bytes_down, boost::test_tools::per_element());
        BOOST_TEST(total_up == s.bytes_up);
        BOOST_TEST(total_down == s.bytes_down);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(with_worker_cores_async_staleness_stays_within_the_bound_on_every_shard) {
  for (std::uint32_t k : {1u, 2u, 3u}) {
    const auto cfg = cluster_run("async", 4);
    cluster c{cfg, k, true};
    const bool ended = c.run();
    for (const auto& p : c.problems)
      BOOST_TEST_MESSAGE(p);
    BOOST_TEST_MESSAGE(c.state());
    BOOST_REQUIRE(ended);
    BOOST_TEST(c.problems.empty());
    BOOST_REQUIRE(c.outcome().ok);
    const auto& s = c.outcome().summary;
    BOOST_TEST(s.steps == 12u);
    BOOST_TEST(s.max_staleness <= 2u);
    BOOST_TEST(c.follower_staleness() <= 2u);
    for (std::uint32_t f = 1; f < k; ++f)
      BOOST_TEST(c.commits().at(f) == 12u);
    BOOST_TEST_MESSAGE("worker cores, K = " << k << ": max staleness " << s.max_staleness);
  }
}

BOOST_AUTO_TEST_CASE(an_async_worker_far_behind_every_ring_is_resynced_at_one_version_and_goes_on) {
  // 300 workers take turns (τ + 1 grants out at a time, in arrival order): a worker waits about
  // 300 versions between two grants, and without one it holds the run back in nothing. Worker 3
  // pushes once, then loses every update and probe answer until the leader is past version
  // 280, long before its next grant: when it probes, no shard's ring (256 updates) holds what
  // it lacks. Only the leader decides the resync, at its version, and the follower sends its
  // part at that version: both shards' parts are of the same versions, and the worker pushes
  // again on a version past the cut. (Each shard resyncing at its own version, the parts
  // missed each other.)
  auto cfg = cluster_run("async", 300);
  cfg.dataset = "synthetic:n=1200,d=8,classes=2"; // 4 samples a worker
  cfg.steps = 320;
  cluster c{cfg, 2, true};
  c.cut_off(4, 4, 280);
  const bool ended = c.run();
  for (const auto& p : c.problems)
    BOOST_TEST_MESSAGE(p);
  BOOST_REQUIRE(ended);
  BOOST_TEST(c.problems.empty());
  BOOST_REQUIRE(c.outcome().ok);
  BOOST_TEST(c.outcome().summary.steps == 320u);
  const auto& parts = c.resync_parts();
  BOOST_REQUIRE(parts.count(0) == 1u);
  BOOST_REQUIRE(parts.count(1) == 1u);
  BOOST_TEST(parts.at(0) == parts.at(1));
  BOOST_TEST(*parts.at(0).begin() > 280u);
  BOOST_TEST(c.pushes_past_cut() > 0u);
}

// Krum with K > 1 (protocol 10): the leader chooses on the distances summed over the shards, so
// a K-shard run makes the very model of the unsharded run with a coordinate-wise operator, and
// the liar (worker 2, 3 above the others on every coordinate) is never chosen.
BOOST_AUTO_TEST_CASE(a_sharded_krum_run_equals_the_unsharded_one_bit_for_bit_and_drops_the_liar) {
  auto cfg = cluster_run("sync", 5);
  cfg.aggregate = "krum:f=1";
  cluster one{cfg, 1};
  one.make_liar(2);
  expect_clean_run(one);
  BOOST_TEST(one.outcome().summary.steps == 12u);
  // The liar matters: the mean takes it in, and makes another model.
  auto mean_cfg = cfg;
  mean_cfg.aggregate = "mean";
  cluster mean{mean_cfg, 1};
  mean.make_liar(2);
  BOOST_REQUIRE(mean.run());
  BOOST_REQUIRE(mean.outcome().ok);
  BOOST_TEST(!same_bits(one.outcome().model, mean.outcome().model));
  for (std::uint32_t k : {2u, 3u}) {
    cluster many{cfg, k};
    many.make_liar(2);
    expect_clean_run(many);
    BOOST_TEST(many.outcome().summary.steps == 12u);
    for (std::uint32_t f = 1; f < k; ++f) {
      BOOST_TEST(many.commits().at(f) == 12u);
      BOOST_TEST(many.queries().at(f) == 12u); // one query per round
      const auto& chosen = many.chosen().at(f);
      BOOST_TEST(chosen.size() == 12u);
      BOOST_TEST(std::count(chosen.begin(), chosen.end(), 2u) == 0);
    }
    BOOST_TEST(same_bits(one.outcome().model, many.outcome().model), "K = " << k);
    BOOST_TEST(one.outcome().summary.final_train_loss == many.outcome().summary.final_train_loss);
  }
}

// The same with the workers' own cores (and multiplexers): real gradients, fp16 with error
// feedback on both passes (coordinate-wise).
BOOST_AUTO_TEST_CASE(with_worker_cores_a_sharded_krum_run_equals_the_unsharded_one_bit_for_bit) {
  auto cfg = cluster_run("sync", 5);
  cfg.aggregate = "krum:f=1";
  cfg.method = "doublesqueeze";
  cfg.compressor = "fp16";
  expect_sharded_runs_equal_the_unsharded_one(cfg, "krum:f=1");
}

// --verify-replicas with K shards: each slice push carries the worker's digest of that range of
// x_step, checked by the shard that owns the range (range 0 the leader, range k follower k).
// Healthy replicas pass on every shard; a replica that differs in range k is caught by shard k
// and its worker removed, as the one server does with K = 1, and the run goes on.
BOOST_AUTO_TEST_CASE(verify_replicas_checks_every_range_and_catches_a_replica_that_differs) {
  auto cfg = cluster_run("sync", 3);
  cfg.method = "doublesqueeze";
  cfg.compressor = "sign";
  cfg.verify_replicas = 1;
  for (std::uint32_t k : {1u, 2u, 3u}) {
    cluster healthy{cfg, k, true};
    BOOST_REQUIRE(healthy.run());
    for (const auto& p : healthy.problems)
      BOOST_TEST_MESSAGE(p);
    BOOST_TEST(healthy.problems.empty(), "K = " << k);
    BOOST_REQUIRE(healthy.outcome().ok);
    BOOST_TEST(healthy.outcome().summary.departures == 0u);
    BOOST_TEST(healthy.outcome().summary.verified_replicas == 36u); // 3 workers, 12 steps
    for (std::uint32_t bad = 0; bad < k; ++bad) {
      cluster c{cfg, k, true};
      c.corrupt_digest(2, bad, 5);
      BOOST_REQUIRE(c.run());
      BOOST_REQUIRE(c.outcome().ok);
      BOOST_TEST(c.outcome().summary.steps == 12u);
      BOOST_TEST(c.outcome().summary.departures == 1u, "K = " << k << ", range " << bad);
      // The worker's end (and, with shards, the follower's refusal the harness notes), each
      // naming the replica, and the shard whose range differs.
      BOOST_REQUIRE(!c.problems.empty());
      for (const auto& p : c.problems) {
        BOOST_TEST(p.find("replica differs") != std::string::npos, p);
        if (bad > 0)
          BOOST_TEST(p.find("shard " + std::to_string(bad)) != std::string::npos, p);
      }
      BOOST_TEST(c.problems.back().find("a worker stopped") != std::string::npos,
                 c.problems.back());
    }
  }
}
