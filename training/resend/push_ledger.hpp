#pragma once

// The server's record of the last push it accepted from each worker, by push key
// (round_policy::push_key, which grows with each push of a worker): a push whose key is not
// newer is a resend of one in hand (its first copy, or the update since, was lost) and is
// acknowledged, never applied twice; a probe for a key in hand is acknowledged, for one not in
// hand answered with a request to resend it.

#include <cstdint>
#include <map>

namespace dsq {

class push_ledger {
public:
  /// True if worker `worker`'s push with `key` is in hand: accepted before, or older than the
  /// last accepted.
  bool in_hand(std::uint32_t worker, std::uint64_t key) const;

  /// Worker `worker`'s push with `key` was accepted.
  void accepted(std::uint32_t worker, std::uint64_t key) { last_[worker] = key; }

  /// Worker `worker` is gone: a new worker under its id starts afresh.
  void forget(std::uint32_t worker) { last_.erase(worker); }

private:
  std::map<std::uint32_t, std::uint64_t> last_;
};

} // namespace dsq
