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

#include <caf/io/basp/header.hpp>
#include <caf/io/basp/message_type.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace caf {
class execution_unit;
class proxy_registry;
} // namespace caf

namespace dsq {

/// Follows the BASP frames of one connection and tells which ones CAF's broker can take.
class basp_screen {
public:
  /// `size` bytes at `data` arrived, as many as the broker asked for. False: a payload whose
  /// decoding throws; it must not reach the broker. `proxies` is the broker's proxy registry,
  /// which decoding actor handles needs (and fills, as the broker's own decoding would).
  bool admit(caf::execution_unit* ctx, caf::proxy_registry* proxies, const char* data,
             std::size_t size);

  /// Payloads decoded here because their types were not known to be safe.
  std::size_t trials() const noexcept { return trials_; }

private:
  bool expecting_payload_ = false;
  caf::io::basp::message_type operation_{};
  std::uint32_t payload_len_ = 0;
  std::size_t trials_ = 0;
};

/// True if the type list of a serialized message ("@<>+@atom+dsq::model_update") names only
/// types whose decoding cannot throw.
bool names_only_safe_types(std::string_view type_list);

} // namespace dsq
