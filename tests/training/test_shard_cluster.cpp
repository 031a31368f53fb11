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
#include "training/server/server_core.hpp"
#include "training/shard/range_operator.hpp"
#include "training/shard/shard_core.hpp"

#include <chrono>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <vector>

using namespace dsq;
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
  cluster(run_config cfg, std::uint32_t shards) : cfg_(std::move(cfg)), k_(shards) {
    server_setup s;
    s.cfg = cfg_;
    s.setup = load_training(cfg_);
    s.verbose = false;
    s.log = std::make_shared<run_log>("");
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
    for (std::uint32_t i = 0; i < cfg_.workers; ++i) {
      workers_.emplace_back();
      workers_.back().peer = i + 1;
      later([this, i] {
        registration r;
        r.peer = i + 1;
        lead(leader_->registered(r, now_));
      });
    }
    for (std::size_t n = 0; n < 1'000'000 && !queue_.empty(); ++n) {
      now_ += 1ms;
      auto next = std::move(queue_.front());
      queue_.pop_front();
      next();
    }
    return stopped_;
  }

  const run_outcome& outcome() const { return *outcome_; }
  /// The largest staleness of a push in a commit that a follower received (0 without any).
  std::uint64_t follower_staleness() const { return follower_staleness_; }
  /// The commits each follower received.
  const std::map<std::uint32_t, std::uint64_t>& commits() const { return commits_; }
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
      for (std::size_t i = 0; i < c->workers.size(); ++i) {
        const auto step = pushed_steps_.at({c->workers[i], c->keys[i]});
        follower_staleness_ = std::max(follower_staleness_, c->version - 1 - step);
      }
      follow(k, f.committed(*c, now_));
    } else if (const auto* j = std::get_if<member_change>(&m))
      follow(k, f.member_changed(*j, now_));
    else if (const auto* e = std::get_if<shard_end>(&m))
      follow(k, f.ended(*e, now_));
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
    else if (const auto* r = std::get_if<slice_refused>(&m))
      problems.push_back("a slice was refused: " + r->why);
    else if (const auto* u = std::get_if<slice_update_msg>(&m))
      lead(leader_->shard_updated(model_update{u->version, updates_[k].at(u->version), k}, now_));
    else if (const auto* rep = std::get_if<shard_report>(&m))
      lead(leader_->shard_reported(*rep, now_));
  }

  void to_worker(peer_id peer, std::uint32_t shard, const worker_message& m) {
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
               0.002f * static_cast<float>(w.version % 5);
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

  run_config cfg_;
  std::uint32_t k_;
  server_core::time_point now_ = server_core::time_point{} + 1h;
  std::shared_ptr<run_outcome> outcome_ = std::make_shared<run_outcome>();
  std::unique_ptr<server_core> leader_;
  std::vector<key_range> ranges_;
  std::vector<std::unique_ptr<shard_core>> followers_;
  std::deque<fake_worker> workers_; ///< a deque: references stay valid as it grows
  std::map<std::uint32_t, std::map<std::uint64_t, std::vector<std::uint8_t>>> updates_;
  std::map<std::pair<std::uint32_t, std::uint64_t>, std::uint64_t> pushed_steps_;
  std::map<std::uint32_t, std::uint64_t> commits_;
  std::uint64_t follower_staleness_ = 0;
  std::deque<std::function<void()>> queue_;
  bool stopped_ = false;
};

} // namespace

BOOST_AUTO_TEST_CASE(a_sharded_sync_identity_run_equals_the_unsharded_one_bit_for_bit) {
  const auto cfg = cluster_run("sync", 3);
  cluster one{cfg, 1};
  BOOST_REQUIRE(one.run());
  BOOST_TEST(one.problems.empty());
  BOOST_REQUIRE(one.outcome().ok);
  BOOST_TEST(one.outcome().summary.steps == 12u);
  for (std::uint32_t k : {2u, 3u}) {
    cluster many{cfg, k};
    BOOST_REQUIRE(many.run());
    for (const auto& p : many.problems)
      BOOST_TEST_MESSAGE(p);
    BOOST_TEST(many.problems.empty());
    BOOST_REQUIRE(many.outcome().ok);
    BOOST_TEST(many.outcome().summary.shards == k);
    for (std::uint32_t f = 1; f < k; ++f)
      BOOST_TEST(many.commits().at(f) == 12u);
    const auto& a = one.outcome().model;
    const auto& b = many.outcome().model;
    BOOST_REQUIRE(a.size() == b.size());
    BOOST_TEST(std::memcmp(a.data(), b.data(), sizeof(float) * a.size()) == 0);
  }
}

BOOST_AUTO_TEST_CASE(async_staleness_stays_within_the_bound_on_every_shard) {
  for (std::uint32_t k : {1u, 2u, 3u}) {
    const auto cfg = cluster_run("async", 4);
    cluster c{cfg, k};
    BOOST_REQUIRE(c.run());
    BOOST_TEST(c.problems.empty());
    BOOST_REQUIRE(c.outcome().ok);
    const auto& s = c.outcome().summary;
    BOOST_TEST(s.steps == 12u);
    BOOST_TEST(s.max_staleness <= 2u);        // the leader's shard
    BOOST_TEST(c.follower_staleness() <= 2u); // every follower applies the same commits
    for (std::uint32_t f = 1; f < k; ++f)
      BOOST_TEST(c.commits().at(f) == 12u);
    BOOST_TEST_MESSAGE("K = " << k << ": max staleness " << s.max_staleness);
  }
}
