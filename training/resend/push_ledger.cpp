#include "training/resend/push_ledger.hpp"

namespace dsq {

bool push_ledger::in_hand(std::uint32_t worker, std::uint64_t key) const {
  auto it = last_.find(worker);
  return it != last_.end() && key <= it->second;
}

} // namespace dsq
