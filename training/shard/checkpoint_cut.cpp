#include "training/shard/checkpoint_cut.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

namespace dsq {

namespace {

Eigen::Index at(std::uint64_t v) {
  return static_cast<Eigen::Index>(v);
}

} // namespace

checkpoint leader_part(const checkpoint& whole, const key_range& r) {
  checkpoint part;
  part.version = whole.version;
  part.model = whole.model.segment(at(r.begin), at(r.size()));
  part.server_residual = whole.server_residual;
  if (whole.momentum.size() > 0)
    part.momentum = whole.momentum.segment(at(r.begin), at(r.size()));
  part.server_rng = whole.server_rng;
  return part;
}

checkpoint_cut::checkpoint_cut(std::vector<key_range> ranges, std::uint64_t kept)
    : ranges_(std::move(ranges)), kept_(kept) {}

slice_save checkpoint_cut::open(checkpoint own) {
  const auto d = at(ranges_.back().end);
  const auto r0 = ranges_.front();
  cut c;
  c.whole = std::move(own);
  // The whole x and momentum: range 0 now, every other range as its follower confirms.
  Eigen::VectorXf x = Eigen::VectorXf::Zero(d);
  x.segment(0, at(r0.size())) = c.whole.model;
  c.whole.model = std::move(x);
  if (c.whole.momentum.size() > 0) {
    Eigen::VectorXf m = Eigen::VectorXf::Zero(d);
    m.segment(0, at(r0.size())) = c.whole.momentum;
    c.whole.momentum = std::move(m);
  }
  c.whole.shards = shard_set{ranges_, std::vector<std::uint32_t>(ranges_.size(), 0)};
  c.in.assign(ranges_.size(), false);
  c.in[0] = true;
  const auto version = c.whole.version;
  open_[version] = std::move(c);
  return slice_save{version, kept_};
}

std::optional<checkpoint> checkpoint_cut::saved(const slice_saved& s, const Eigen::VectorXf& x,
                                                const Eigen::VectorXf* m) {
  if (!s.failure.empty())
    throw std::runtime_error(fmt::format("shard {} could not write its checkpoint of step {}: {}",
                                         s.shard, s.version, s.failure));
  auto it = open_.find(s.version);
  if (s.shard == 0 || s.shard >= ranges_.size() || it == open_.end() || it->second.in[s.shard])
    throw std::runtime_error(fmt::format(
        "shard {} confirmed a checkpoint of step {}, which the leader does not wait for", s.shard,
        s.version));
  const auto r = ranges_[s.shard];
  auto& c = it->second;
  if (static_cast<std::uint64_t>(x.size()) != r.size() ||
      (c.whole.momentum.size() > 0 && (!m || static_cast<std::uint64_t>(m->size()) != r.size())))
    throw std::runtime_error(
        fmt::format("shard {}'s range at step {} does not fit its key range", s.shard, s.version));
  c.whole.model.segment(at(r.begin), at(r.size())) = x;
  if (c.whole.momentum.size() > 0)
    c.whole.momentum.segment(at(r.begin), at(r.size())) = *m;
  c.whole.shards->digests[s.shard] = s.digest;
  c.in[s.shard] = true;
  if (!std::all_of(c.in.begin(), c.in.end(), [](bool in) { return in; }))
    return std::nullopt;
  auto whole = std::move(c.whole);
  open_.erase(it);
  return whole;
}

void checkpoint_cut::written(std::uint64_t version) {
  kept_ = std::max(kept_, version);
  open_.erase(open_.begin(), open_.upper_bound(version));
}

} // namespace dsq
