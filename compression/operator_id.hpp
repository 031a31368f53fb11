#pragma once

#include <cstdint>
#include <string_view>

namespace dsq {

/// Which operator produced a compressed_message. The values are part of the wire format:
/// never renumber, only append.
enum class operator_id : std::uint8_t {
  identity = 0,
  fp16 = 1,
  sign = 2,
  topk = 3,
  randomk = 4,
  qsgd = 5,
  /// A registered operator (include/dsq/operator.hpp): the message carries its spec.
  custom = 6,
};

/// One past the largest valid id, for decoders that must reject unknown ones.
inline constexpr std::uint8_t operator_id_count = 7;

/// The operator's name as it appears in spec strings.
constexpr std::string_view to_string(operator_id id) noexcept {
  switch (id) {
  case operator_id::identity:
    return "identity";
  case operator_id::fp16:
    return "fp16";
  case operator_id::sign:
    return "sign";
  case operator_id::topk:
    return "topk";
  case operator_id::randomk:
    return "randomk";
  case operator_id::qsgd:
    return "qsgd";
  case operator_id::custom:
    return "custom";
  }
  return "unknown";
}

} // namespace dsq
