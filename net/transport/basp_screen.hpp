#pragma once

// A guard in front of CAF 0.17's BASP broker for one connection. The broker decodes
// every message it receives in its own handler, and CAF 0.17's deserializer throws, rather
// than failing, on some malformed built-in values (a config_value whose variant tag is past its
// last alternative): the exception ends the broker, and with it every connection of the
// process. The screen follows the connection's BASP frames as the broker reads them (a header,
// then its payload) and decodes a payload that could throw, exactly as the broker will, before
// the broker sees it. One that throws is not handed on; the connection is closed instead.
//
// Payloads of direct messages that name only types dsq's protocol uses (atoms, integers,
// strings, actors, dsq's own structs), with no forwarding stages, cannot throw and are let
// through without being decoded twice: every push and update takes that path.
//
// Given the connection's two ends (basp_endpoints), the screen also decides who a message
// comes from by the connection it came in on. CAF's broker believes the source node a routed,
// monitor or down message claims: a routed message claiming this process's own node, with the
// server's actor id as sender, reaches the server as a message from itself (issue 29). The
// screen refuses every message whose claimed source node is not the peer's, every handshake
// that claims this process's node, every message before the peer's handshake, forwarding
// stages (a reply would go out in the name of a local actor), and messages that start with an
// atom only this process's own actors send (local_only_atoms, net/transport/local_only_atoms.hpp:
// the server's timer, stop, ...). And it refuses a header whose announced payload exceeds the limit
// before the broker sizes its buffer for it (net/transport/message_size_limit.hpp).

#include <caf/io/basp/header.hpp>
#include <caf/io/basp/message_type.hpp>
#include <caf/node_id.hpp>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string_view>

namespace caf {
class execution_unit;
class proxy_registry;
} // namespace caf

namespace dsq {

/// The two ends of one connection as BASP's broker knows them.
struct basp_endpoints {
  caf::node_id self; ///< this process's node
  caf::node_id peer; ///< the node at the other end; none until its handshake arrived
};

/// Why the screen refused a frame.
enum class screen_refusal {
  none,          ///< nothing refused
  undecodable,   ///< decoding it would throw in CAF's broker
  oversized,     ///< its header announced more than the limit
  forged_sender, ///< it claims a source node other than the peer's (or no peer yet)
  local_only,    ///< it carries what only this process's own actors send
};

/// Follows the BASP frames of one connection and tells which ones CAF's broker can take.
class basp_screen {
public:
  /// `size` bytes at `data` arrived, as many as the broker asked for. False: a payload whose
  /// decoding throws; it must not reach the broker. `proxies` is the broker's proxy registry,
  /// which decoding actor handles needs (and fills, as the broker's own decoding would).
  /// With `ends`, also false for a payload that lies about its sender or carries a local-only
  /// message (see above); a header over max_payload() is refused with or without them.
  bool admit(caf::execution_unit* ctx, caf::proxy_registry* proxies, const char* data,
             std::size_t size, const basp_endpoints* ends = nullptr);

  /// The largest payload a header may announce (default: any CAF can express).
  void limit_payload(std::uint64_t bytes) noexcept { max_payload_ = bytes; }

  /// The limit of limit_payload().
  std::uint64_t max_payload() const noexcept { return max_payload_; }

  /// True when the next frame is a payload (the broker read its header).
  bool expecting_payload() const noexcept { return expecting_payload_; }

  /// Why the last refused frame was refused.
  screen_refusal refusal() const noexcept { return refusal_; }

  /// The payload length the last header announced.
  std::uint32_t announced() const noexcept { return payload_len_; }

  /// Payloads decoded here because their types were not known to be safe.
  std::size_t trials() const noexcept { return trials_; }

private:
  bool refuse(screen_refusal why) noexcept {
    refusal_ = why;
    return false;
  }

  bool expecting_payload_ = false;
  caf::io::basp::message_type operation_{};
  std::uint32_t payload_len_ = 0;
  std::uint64_t max_payload_ = std::numeric_limits<std::uint32_t>::max();
  screen_refusal refusal_ = screen_refusal::none;
  std::size_t trials_ = 0;
};

/// True if the type list of a serialized message ("@<>+@atom+dsq::model_update") names only
/// types whose decoding cannot throw.
bool names_only_safe_types(std::string_view type_list);

/// The refusal as the end of "closed the connection from HOST:PORT: ...".
const char* describe(screen_refusal why) noexcept;

} // namespace dsq
