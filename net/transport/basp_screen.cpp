#include "net/transport/basp_screen.hpp"

#include <caf/actor_control_block.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/error.hpp>
#include <caf/execution_unit.hpp>
#include <caf/message.hpp>
#include <caf/node_id.hpp>

#include <array>
#include <string_view>
#include <vector>

namespace dsq {

namespace {

using caf::io::basp::message_type;

/// Built-in types of CAF 0.17 whose decoding only reads numbers, bytes or actor handles.
constexpr std::array<std::string_view, 17> safe_builtins{
    "@atom", "@actor", "@addr", "@strong_actor_ptr",
    "@str",  "@u8",    "@u16",  "@u32",
    "@u64",  "@i8",    "@i16",  "@i32",
    "@i64",  "@unit",  "bool",  "float",
    "double"};

bool safe_type(std::string_view name) {
  // dsq's own types (net/protocol/register_types.cpp) decode through net/protocol/bounded_bytes.hpp
  // and net/protocol/exact_floats.hpp, which fail with an error, never by throwing.
  if (name.starts_with("dsq::") || name == "std::vector<float>")
    return true;
  for (auto safe : safe_builtins)
    if (name == safe)
      return true;
  return false;
}

/// A direct message without forwarding stages whose types are all safe: nothing in it throws.
/// Read by hand, since it is checked for every message: CAF 0.17's binary format writes the
/// stages as a varbyte count (0: one zero byte), then the message as a 16-bit type number (0
/// for a message) and its type list as a varbyte length and the characters.
bool plainly_safe(const char* data, std::size_t size) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(data);
  constexpr std::size_t list_at = 4; // stages (1), type number (2), list length (1)
  if (size < list_at || bytes[0] != 0 || bytes[1] != 0 || bytes[2] != 0 || bytes[3] >= 0x80)
    return false; // stages, or a list of 128 characters or more: decoded in full instead
  const std::size_t length = bytes[3];
  if (size - list_at < length)
    return false;
  return names_only_safe_types(std::string_view{data + list_at, length});
}

/// Decodes the payload as CAF's BASP broker will (caf/io/basp/remote_message_handler.hpp and
/// instance::handle); false if that throws. Errors are the broker's to handle: they do not end
/// it.
bool decodes_without_throwing(caf::execution_unit* ctx, message_type operation, const char* data,
                              std::size_t size) {
  caf::binary_deserializer source{ctx, data, size};
  try {
    switch (operation) {
    case message_type::routed_message: {
      caf::node_id from, to;
      if (source(from, to))
        return true;
    }
      [[fallthrough]];
    case message_type::direct_message: {
      std::vector<caf::strong_actor_ptr> stages;
      caf::message content;
      static_cast<void>(source(stages, content));
      return true;
    }
    case message_type::down_message: {
      caf::node_id from, to;
      caf::error reason;
      static_cast<void>(source(from, to, reason));
      return true;
    }
    default:
      // Handshakes and monitor messages hold node ids, actor ids and strings.
      return true;
    }
  } catch (...) {
    return false;
  }
}

} // namespace

bool names_only_safe_types(std::string_view type_list) {
  constexpr std::string_view prefix = "@<>";
  auto rest = type_list;
  if (!rest.starts_with(prefix))
    return false;
  rest.remove_prefix(prefix.size());
  while (!rest.empty()) {
    if (rest.front() != '+')
      return false;
    rest.remove_prefix(1);
    const auto end = rest.find('+');
    if (!safe_type(rest.substr(0, end)))
      return false;
    rest.remove_prefix(end == std::string_view::npos ? rest.size() : end);
  }
  return true;
}

bool basp_screen::admit(caf::execution_unit* ctx, caf::proxy_registry* proxies, const char* data,
                        std::size_t size) {
  if (!expecting_payload_) {
    // A header: numbers only, which cannot throw. The broker reads exactly header_size bytes
    // for one: the operation, two padding bytes, the flags, the payload's length (32 bits,
    // network order), then operation data and actor ids.
    static_assert(caf::io::basp::header_size == 32);
    if (size != caf::io::basp::header_size)
      return true;
    const auto* bytes = reinterpret_cast<const unsigned char*>(data);
    operation_ = static_cast<message_type>(bytes[0]);
    payload_len_ = std::uint32_t{bytes[4]} << 24 | std::uint32_t{bytes[5]} << 16 |
                   std::uint32_t{bytes[6]} << 8 | std::uint32_t{bytes[7]};
    expecting_payload_ = payload_len_ > 0;
    return true;
  }
  expecting_payload_ = false;
  if (size != payload_len_)
    return true;
  if (operation_ == message_type::direct_message && plainly_safe(data, size))
    return true;
  ++trials_;
  // Decoding actor handles needs the broker's proxy registry, as when the broker decodes.
  auto* previous = ctx->proxy_registry_ptr();
  ctx->proxy_registry_ptr(proxies);
  const bool ok = decodes_without_throwing(ctx, operation_, data, size);
  ctx->proxy_registry_ptr(previous);
  return ok;
}

} // namespace dsq
