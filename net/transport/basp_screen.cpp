#include "net/transport/basp_screen.hpp"

#include "net/transport/local_only_atoms.hpp"

#include <caf/actor_control_block.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/error.hpp>
#include <caf/execution_unit.hpp>
#include <caf/message.hpp>
#include <caf/node_id.hpp>

#include <array>
#include <optional>
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

/// The first element of a plainly safe payload (plainly_safe) if it is an atom.
std::optional<caf::atom_value> first_atom(caf::execution_unit* ctx, const char* data,
                                          std::size_t size) {
  constexpr std::size_t list_at = 4;
  const std::string_view list{data + list_at, static_cast<unsigned char>(data[3])};
  constexpr std::string_view atom_first = "@<>+@atom";
  if (!list.starts_with(atom_first) ||
      (list.size() > atom_first.size() && list[atom_first.size()] != '+'))
    return std::nullopt;
  const std::size_t at = list_at + list.size();
  caf::binary_deserializer source{ctx, data + at, size - at};
  caf::atom_value x{};
  if (source(x))
    return std::nullopt; // too short: CAF's broker fails on it and closes the connection
  return x;
}

/// What the screen learned by decoding a payload as CAF's broker will.
struct decoded_payload {
  bool threw = false;     ///< decoding threw: the broker would end
  bool has_nodes = false; ///< `from` (and for routed, monitor, down messages `to`) were read
  caf::node_id from, to;
  bool has_content = false; ///< `content` and `staged` were read
  bool staged = false;      ///< the message has forwarding stages
  caf::message content;
};

/// Decodes the payload as CAF's BASP broker will (caf/io/basp/instance.cpp, instance::handle,
/// and remote_message_handler.hpp); records whether that throws. Errors are the broker's to
/// handle: they do not end it. Handshakes and monitor messages are read only `with_nodes`.
decoded_payload decode(caf::execution_unit* ctx, message_type operation, const char* data,
                       std::size_t size, bool with_nodes) {
  decoded_payload out;
  caf::binary_deserializer source{ctx, data, size};
  try {
    switch (operation) {
    case message_type::routed_message:
      if (source(out.from, out.to))
        return out;
      out.has_nodes = true;
      [[fallthrough]];
    case message_type::direct_message: {
      std::vector<caf::strong_actor_ptr> stages;
      if (!source(stages, out.content)) {
        out.has_content = true;
        out.staged = !stages.empty();
      }
      return out;
    }
    case message_type::down_message: {
      caf::error reason;
      if (!source(out.from, out.to)) {
        out.has_nodes = true;
        static_cast<void>(source(reason));
      }
      return out;
    }
    case message_type::monitor_message:
      if (with_nodes && !source(out.from, out.to))
        out.has_nodes = true;
      return out;
    case message_type::server_handshake: // the sender's node comes first in both
    case message_type::client_handshake:
      if (with_nodes && !source(out.from))
        out.has_nodes = true;
      return out;
    default:
      // Heartbeats carry nothing.
      return out;
    }
  } catch (...) {
    out.threw = true;
    return out;
  }
}

/// Messages that name a sender, whose node CAF takes from the connection (direct) or from the
/// payload (the others).
bool names_a_sender(message_type operation) {
  return operation == message_type::direct_message || operation == message_type::routed_message ||
         operation == message_type::monitor_message || operation == message_type::down_message;
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
                        std::size_t size, const basp_endpoints* ends) {
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
    // Refused before the broker sees the header: it would size its buffer to the announcement.
    if (payload_len_ > max_payload_)
      return refuse(screen_refusal::oversized);
    expecting_payload_ = payload_len_ > 0;
    return true;
  }
  expecting_payload_ = false;
  if (size != payload_len_)
    return true;
  // Who sent it is decided by the connection: a peer that has not said who it is yet, or that
  // claims to be this process, cannot send messages.
  if (ends && names_a_sender(operation_) && (!ends->peer || ends->peer == ends->self))
    return refuse(screen_refusal::forged_sender);
  if (operation_ == message_type::direct_message && plainly_safe(data, size)) {
    if (!ends)
      return true;
    auto atom = first_atom(ctx, data, size);
    return atom && is_local_only(*atom) ? refuse(screen_refusal::local_only) : true;
  }
  ++trials_;
  // Decoding actor handles needs the broker's proxy registry, as when the broker decodes.
  auto* previous = ctx->proxy_registry_ptr();
  ctx->proxy_registry_ptr(proxies);
  auto decoded = decode(ctx, operation_, data, size, ends != nullptr);
  ctx->proxy_registry_ptr(previous);
  if (decoded.threw)
    return refuse(screen_refusal::undecodable);
  if (!ends)
    return true;
  if (decoded.has_nodes) {
    const bool handshake = operation_ == message_type::server_handshake ||
                           operation_ == message_type::client_handshake;
    if (handshake ? decoded.from == ends->self
                  : decoded.from != ends->peer || decoded.to != ends->self)
      return refuse(screen_refusal::forged_sender);
  }
  const bool carries_content = operation_ == message_type::direct_message ||
                               (operation_ == message_type::routed_message && decoded.has_nodes);
  // A message whose content fails to decode reaches its receiver as whatever part of it CAF
  // had read (the server saw an empty one): its first atom cannot be checked, so it goes.
  if (carries_content && !decoded.has_content)
    return refuse(screen_refusal::undecodable);
  if (decoded.has_content) {
    if (decoded.staged)
      return refuse(screen_refusal::local_only);
    const auto& content = decoded.content;
    if (content.size() > 0 && content.match_element<caf::atom_value>(0) &&
        is_local_only(content.get_as<caf::atom_value>(0)))
      return refuse(screen_refusal::local_only);
  }
  return true;
}

const char* describe(screen_refusal why) noexcept {
  switch (why) {
  case screen_refusal::none:
    return "nothing";
  case screen_refusal::undecodable:
    return "it sent a message that CAF cannot decode";
  case screen_refusal::oversized:
    return "it announced a message larger than this run's limit (--max-message-bytes)";
  case screen_refusal::forged_sender:
    return "it sent a message in the name of another node (or before its handshake)";
  case screen_refusal::local_only:
    return "it sent a message that only this process's own actors may send";
  }
  return "?";
}

} // namespace dsq
