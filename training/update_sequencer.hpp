#pragma once

// A replica applies updates strictly in version order: the update that produces version v + 1
// comes next, an early one waits in a buffer, an old or duplicated one is ignored. This holds
// whatever order the network delivers them in.

#include <cstdint>
#include <map>
#include <optional>
#include <vector>

namespace dsq {

class update_sequencer {
public:
  using payload = std::vector<std::uint8_t>;

  /// The replica holds x_`version`.
  explicit update_sequencer(std::uint64_t version = 0) : version_(version) {}

  /// Takes the update that produces `version`; false if it is old or a duplicate.
  bool offer(std::uint64_t version, payload bytes) {
    if (version <= version_ || early_.count(version) > 0)
      return false;
    early_.emplace(version, std::move(bytes));
    return true;
  }

  /// The update that produces version() + 1, if it has arrived; counts it as applied.
  std::optional<payload> next() {
    auto it = early_.find(version_ + 1);
    if (it == early_.end())
      return std::nullopt;
    payload bytes = std::move(it->second);
    early_.erase(it);
    ++version_;
    return bytes;
  }

  /// The version the replica holds once every update handed out by next() is applied.
  std::uint64_t version() const { return version_; }
  /// Updates that arrived ahead of their predecessors.
  std::size_t buffered() const { return early_.size(); }

private:
  std::uint64_t version_;
  std::map<std::uint64_t, payload> early_;
};

} // namespace dsq
