// server_core: Krum in a sharded run (--servers=K > 1, --aggregate=krum:f=F; net/PROTOCOL.md
// "Shards", rule 7). A round the policy releases with at least 2F + 3 pushes waits: the leader
// sends distance_query to every follower, and applies the round when every follower's partial
// distances are in, committing it with the push chosen on the summed distances
// (sharded_krum.hpp). No other round is released meanwhile. Nothing here runs when K = 1, nor
// for another rule.

#include "training/server/server_core.hpp"

#include "compression/compressor.hpp"
#include "training/robust_aggregate.hpp"

#include <fmt/format.h>

namespace dsq {

/// Parks round `r` and asks the followers for their distances, if Krum chooses among its
/// pushes; false (nothing done) otherwise.
bool server_core::ask_distances(round& r) {
  if (!krum_ || !krum_->chooses(r.pushes.size()))
    return false;
  distance_query q;
  q.version = version() + 1;
  const auto n = r.pushes.size(), d = engine_.dim();
  std::vector<float> rows(n * d);
  for (std::size_t i = 0; i < n; ++i) {
    q.workers.push_back(r.pushes[i].worker);
    q.keys.push_back(r.pushes[i].key);
    decompress(r.pushes[i].c, std::span<float>{rows.data() + i * d, d});
  }
  krum_->ask(q, pairwise_squared_distances(rows, n));
  to_followers(q);
  krum_round_ = std::move(r);
  return true;
}

server_effects server_core::shard_distances(const distance_reply& r, time_point now) {
  now_ = now;
  if (!krum_ || !krum_round_ || phase_ != phase::training)
    return take();
  std::optional<std::size_t> chosen;
  try {
    chosen = krum_->answered(r);
  } catch (const std::invalid_argument& e) {
    krum_->drop();
    krum_round_.reset();
    finish(fmt::format("Krum's distances for version {}: {}", r.version, e.what()));
    return take();
  }
  if (!chosen)
    return take();
  auto waiting = std::move(*krum_round_);
  krum_round_.reset();
  apply_round(std::move(waiting), chosen);
  drain();
  return take();
}

} // namespace dsq
