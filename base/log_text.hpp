#pragma once

// Text that came from the network (a worker's host name, a farewell's reason, a message's kind)
// before it reaches a log line: a peer chooses its bytes, so they are capped and made printable.
// A 64 MiB host name in a registration used to be written whole into the server's log (issue 29).

#include <cstddef>
#include <string>
#include <string_view>

namespace dsq {

/// How many bytes of a peer's host name a log line shows.
inline constexpr std::size_t log_host_chars = 64;
/// How many bytes of a peer's longer text (a farewell's reason) a log line shows.
inline constexpr std::size_t log_text_chars = 512;

/// `text` for a log line: control characters (below 0x20, 0x7f) replaced by '?', and, if longer
/// than `max` bytes, its first `max` followed by "... (N bytes, cut)".
std::string log_safe(std::string_view text, std::size_t max = log_host_chars);

} // namespace dsq
