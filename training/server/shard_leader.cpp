#include "training/server/shard_leader.hpp"

#include "compression/wire.hpp"
#include "config/aggregate_rule.hpp"
#include "config/method.hpp"
#include "config/run_limits.hpp"

#include <fmt/format.h>

#include <numeric>
#include <stdexcept>

namespace dsq {

namespace {

/// Tallies kept per worker: pushes whose slices some follower holds and the leader has not
/// taken. An honest worker has one or two; a follower holds at most held_pushes_max.
constexpr std::size_t tallies_max = 16;

std::span<const float> slice_of(const Eigen::VectorXf& v, key_range r) {
  return {v.data() + r.begin, static_cast<std::size_t>(r.size())};
}

} // namespace

std::optional<std::string> sharding_refusal(const run_config& cfg, std::uint32_t shards) {
  if (shards <= 1)
    return std::nullopt;
  // Krum with K > 1 (protocol 10): the followers send the leader their partial distances of a
  // round's pushes, n(n − 1)/2 doubles each; n is bounded by the seats.
  if (parse_aggregate_rule(cfg.aggregate).kind == aggregate_kind::krum &&
      worker_cap(cfg) > max_sharded_krum_seats)
    return fmt::format("--servers={} with --aggregate=krum takes at most {} seats, not {}: set "
                       "--max-workers={} or fewer",
                       shards, max_sharded_krum_seats, worker_cap(cfg), max_sharded_krum_seats);
  return std::nullopt;
}

std::vector<key_range> run_ranges(const run_config& cfg, std::uint64_t dim, std::uint32_t shards) {
  const auto method = resolve_method(cfg);
  const auto align = std::lcm(range_alignment(method.uplink), range_alignment(method.downlink));
  return split_keys(dim, shards, align);
}

shard_leader::shard_leader(const run_config& cfg, std::vector<key_range> ranges,
                           const Eigen::VectorXf& x, const Eigen::VectorXf* m,
                           std::uint64_t version)
    : ranges_(std::move(ranges)) {
  replica_.resize(ranges_.size());
  for (std::uint32_t k = 1; k < ranges_.size(); ++k)
    replica_[k] = std::make_unique<update_engine>(
        cfg, ranges_.back().end, ranges_[k], k, slice_of(x, ranges_[k]),
        m ? slice_of(*m, ranges_[k]) : std::span<const float>{}, version);
}

std::optional<std::string> shard_leader::refusal_of(const shard_join& j) const {
  if (j.protocol != protocol_version)
    return fmt::format("protocol version {} but the leader speaks {}", j.protocol,
                       protocol_version);
  if (j.shards != ranges_.size())
    return fmt::format("shard {} of {} joins a run of {} shards: give every shard the same "
                       "--servers",
                       j.shard, j.shards, ranges_.size());
  if (j.shard == 0 || j.shard >= ranges_.size())
    return fmt::format("shard {} is no follower of a run of {} shards (followers are 1..{})",
                       j.shard, ranges_.size(), ranges_.size() - 1);
  if (endpoints_.count(j.shard) > 0)
    return fmt::format("shard {} has joined already", j.shard);
  return std::nullopt;
}

void shard_leader::joined(const shard_join& j) {
  endpoints_[j.shard] = j.endpoint;
}

shard_setup shard_leader::setup_for(std::uint32_t k, const run_config& shared,
                                    std::uint64_t total_steps) const {
  const auto& e = *replica_.at(k);
  shard_setup s;
  s.config = shared;
  s.ranges = ranges_;
  s.version = e.version();
  s.total_steps = total_steps;
  s.aggregate = shared.aggregate;
  s.slice.assign(e.x().data(), e.x().data() + e.x().size());
  if (const auto* m = e.momentum_buffer())
    s.momentum.assign(m->data(), m->data() + m->size());
  if (!resume_digests_.empty()) {
    s.resume = true;
    s.resume_digest = resume_digests_.at(k);
  }
  return s;
}

shard_map shard_leader::map() const {
  shard_map m;
  m.ranges = ranges_;
  m.endpoints.assign(ranges_.size(), std::string{});
  for (const auto& [k, at] : endpoints_)
    m.endpoints[k] = at;
  return m;
}

void shard_leader::held(std::uint32_t shard, std::uint32_t worker, std::uint64_t key) {
  auto& mine = held_[worker];
  mine[key].insert(shard);
  while (mine.size() > tallies_max)
    mine.erase(mine.begin());
}

bool shard_leader::all_hold(std::uint32_t worker, std::uint64_t key) const {
  auto w = held_.find(worker);
  if (w == held_.end())
    return ranges_.size() == 1;
  auto k = w->second.find(key);
  return k != w->second.end() && k->second.size() + 1 == ranges_.size();
}

void shard_leader::taken(std::uint32_t worker, std::uint64_t key) {
  if (auto w = held_.find(worker); w != held_.end())
    w->second.erase(w->second.begin(), w->second.upper_bound(key));
}

void shard_leader::forget(std::uint32_t worker) {
  held_.erase(worker);
}

void shard_leader::updated(std::uint32_t shard, std::uint64_t version,
                           std::span<const std::uint8_t> payload) {
  if (shard == 0 || shard >= ranges_.size())
    throw std::invalid_argument(fmt::format("an update from shard {}, which is none", shard));
  auto& e = *replica_[shard];
  if (version <= e.version())
    throw std::invalid_argument(fmt::format("shard {} sent version {} again", shard, version));
  auto c = from_bytes(payload);
  if (c.dim != ranges_[shard].size())
    throw std::invalid_argument(fmt::format("shard {}'s update of version {} has {} coordinates "
                                            "for a range of {}",
                                            shard, version, c.dim, ranges_[shard].size()));
  auto& early = early_updates_[shard];
  early.emplace(version, std::move(c));
  for (auto it = early.find(e.version() + 1); it != early.end(); it = early.find(e.version() + 1)) {
    e.apply(it->second);
    early.erase(it);
    for (auto& w : waiting_)
      if (w.step == e.version())
        fill(w, shard, e.x());
  }
}

Eigen::VectorXf shard_leader::latest(const Eigen::VectorXf& own) const {
  Eigen::VectorXf x(static_cast<Eigen::Index>(ranges_.back().end));
  x.segment(0, static_cast<Eigen::Index>(ranges_[0].size())) = own;
  for (std::uint32_t k = 1; k < ranges_.size(); ++k)
    x.segment(static_cast<Eigen::Index>(ranges_[k].begin),
              static_cast<Eigen::Index>(ranges_[k].size())) = replica_[k]->x();
  return x;
}

void shard_leader::fill(waiting_evaluation& e, std::uint32_t k, const Eigen::VectorXf& slice) {
  e.x.segment(static_cast<Eigen::Index>(ranges_[k].begin),
              static_cast<Eigen::Index>(ranges_[k].size())) = slice;
  e.in[k] = true;
}

void shard_leader::want(std::uint64_t step, bool with_train, const Eigen::VectorXf& own) {
  waiting_evaluation e;
  e.step = step;
  e.with_train = with_train;
  e.x.resize(static_cast<Eigen::Index>(ranges_.back().end));
  e.in.assign(ranges_.size(), false);
  fill(e, 0, own);
  for (std::uint32_t k = 1; k < ranges_.size(); ++k)
    if (replica_[k]->version() == step)
      fill(e, k, replica_[k]->x());
  waiting_.push_back(std::move(e));
}

std::vector<evaluation_request> shard_leader::ready() {
  std::vector<evaluation_request> out;
  // In the order wanted: the run's log takes its rows' evaluations in step order.
  while (!waiting_.empty()) {
    auto& e = waiting_.front();
    bool all = true;
    for (bool in : e.in)
      all = all && in;
    if (!all)
      break;
    out.push_back(evaluation_request{
        e.step, std::vector<float>(e.x.data(), e.x.data() + e.x.size()), e.with_train});
    waiting_.erase(waiting_.begin());
  }
  return out;
}

std::size_t shard_leader::drop_waiting() {
  const auto n = waiting_.size();
  waiting_.clear();
  return n;
}

void shard_leader::reported(const shard_report& r) {
  if (r.shard > 0 && r.shard < ranges_.size())
    reports_[r.shard] = r;
}

bool shard_leader::all_reported() const {
  for (std::uint32_t k = 1; k < ranges_.size(); ++k)
    if (reports_.count(k) == 0 && lost_.count(k) == 0)
      return false;
  return true;
}

} // namespace dsq
