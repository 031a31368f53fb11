#pragma once

// Counts messages by kind so that a flood of one kind costs a few log lines, not one each (an
// attacker's 14,000 unexpected messages printed 14,001 lines): the first of each kind is
// reported, then the count of that kind at 10, 100, 1000, ... Distinct kinds are capped too
// (an atom's value is the sender's choice): beyond max_kinds they count as "other".

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace dsq {

class kind_tally {
public:
  /// At most this many kinds are told apart.
  static constexpr std::size_t max_kinds = 64;

  /// Counts one message of `kind`; the line to log about it, if one is due: "ignored WHAT
  /// (KIND); further ones of this kind are counted" for the first of a kind, "ignored N WHATs
  /// (KIND) so far" at each power of ten. `what` names one message ("an unexpected message"
  /// reads badly in the plural: give "unexpected message").
  std::optional<std::string> count(const std::string& kind, const std::string& what);

  /// How many messages were counted, of every kind.
  std::uint64_t total() const { return total_; }
  /// How many of `kind` (after the cap on kinds) were counted.
  std::uint64_t of(const std::string& kind) const;

private:
  std::map<std::string, std::uint64_t> counts_;
  std::uint64_t total_ = 0;
};

} // namespace dsq
