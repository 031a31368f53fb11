#include "training/server/sharded_krum.hpp"

#include "training/robust_aggregate.hpp"

#include <fmt/format.h>

#include <stdexcept>

namespace dsq {

sharded_krum::sharded_krum(std::size_t f, std::uint32_t shards)
    : f_(f), shards_(shards), partial_(shards) {}

bool sharded_krum::chooses(std::size_t n) const {
  return n >= 2 * f_ + 3;
}

void sharded_krum::ask(const distance_query& q, std::vector<double> own) {
  if (query_)
    throw std::logic_error("sharded_krum: a round waits for its distances already");
  if (q.workers.size() != q.keys.size() || own.size() != row_pairs(q.workers.size()))
    throw std::invalid_argument("sharded_krum: the leader's distances do not fit the query");
  query_ = q;
  partial_.assign(shards_, std::nullopt);
  partial_[0] = std::move(own);
  total_.clear();
}

std::optional<std::size_t> sharded_krum::answered(const distance_reply& r) {
  if (!query_ || r.version != query_->version)
    return std::nullopt;
  if (r.shard == 0 || r.shard >= shards_)
    throw std::invalid_argument(
        fmt::format("distances from shard {}, which is no follower", r.shard));
  if (!r.refused.empty())
    throw std::invalid_argument(r.refused);
  if (partial_[r.shard])
    throw std::invalid_argument(fmt::format(
        "shard {} answered the distance query of version {} twice", r.shard, r.version));
  const auto n = query_->workers.size();
  if (r.distances.size() != row_pairs(n))
    throw std::invalid_argument(fmt::format("shard {} sent {} distances for the {} pairs of {} "
                                            "pushes",
                                            r.shard, r.distances.size(), row_pairs(n), n));
  partial_[r.shard] = r.distances;
  for (const auto& p : partial_)
    if (!p)
      return std::nullopt;
  // In shard order, whatever order the answers came in: the sum is the same in every run.
  total_ = *partial_[0];
  for (std::uint32_t k = 1; k < shards_; ++k)
    for (std::size_t i = 0; i < total_.size(); ++i)
      total_[i] += (*partial_[k])[i];
  const auto chosen = krum_choice_of(f_, total_, n);
  query_.reset();
  partial_.assign(shards_, std::nullopt);
  return chosen;
}

void sharded_krum::drop() {
  query_.reset();
  partial_.assign(shards_, std::nullopt);
}

} // namespace dsq
