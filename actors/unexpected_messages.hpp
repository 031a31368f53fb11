#pragma once

// A default handler for the messages an actor has no handler for: CAF 0.17's print_and_drop
// prints each in full on stderr, so a peer's flood of them becomes a flood of log lines (and a
// huge one, a huge line). This one logs the first message of each kind and then counts
// (base/kind_tally.hpp), naming kinds by their type names only.

#include "base/kind_tally.hpp"
#include "base/log_text.hpp"

#include <caf/all.hpp>

#include <cstdio>
#include <string>

namespace dsq {

/// The kind of a message for a log line: its elements' type names (an atom's value), at most 4.
inline std::string message_kind(caf::actor_system& sys, const caf::type_erased_tuple& xs) {
  std::string kind;
  for (std::size_t i = 0; i < xs.size() && i < 4; ++i) {
    if (i > 0)
      kind += ", ";
    const auto type = xs.type(i);
    if (type.first == caf::type_nr<caf::atom_value>::value)
      kind += xs.stringify(i);
    else
      kind += sys.types().portable_name(type);
  }
  if (xs.size() > 4)
    kind += ", ...";
  return log_safe(kind.empty() ? std::string{"empty"} : kind);
}

/// The default handler of `self`, whose state has a kind_tally `unexpected`: the message is
/// dropped (a request gets CAF's unexpected_message error, as with print_and_drop) and counted;
/// due lines go to stderr after `who: `.
template <class Self>
auto count_unexpected(Self* self, std::string who) {
  return [self, who](caf::scheduled_actor*, caf::message_view& x) -> caf::result<caf::message> {
    if (auto line = self->state.unexpected.count(message_kind(self->system(), x.content()),
                                                 "unexpected message"))
      std::fprintf(stderr, "%s: %s\n", who.c_str(), line->c_str());
    return caf::sec::unexpected_message;
  };
}

} // namespace dsq
