#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace dsq {

/// An x86-64 instruction-set level that compute kernels are compiled for. The build's baseline
/// is v2; kernels for higher levels run only where the machine has them (simd_dispatch.hpp).
enum class simd_level : std::uint8_t {
  v2, ///< x86-64-v2: SSE4.2, POPCNT (the build's baseline)
  v3, ///< x86-64-v3: AVX2, FMA, BMI1/2, F16C, LZCNT, MOVBE
  v4, ///< x86-64-v4: v3 and AVX-512 F, BW, DQ, VL, CD
};

/// Every level, lowest first.
inline constexpr simd_level all_simd_levels[] = {simd_level::v2, simd_level::v3, simd_level::v4};

/// "v2", "v3" or "v4": the spelling DSQ_SIMD accepts and run headers print.
const char* name(simd_level level) noexcept;

/// The level a name() spells, or nothing.
std::optional<simd_level> parse_simd_level(std::string_view text) noexcept;

/// A set of levels, e.g. those a machine supports.
class simd_level_set {
public:
  /// The empty set.
  constexpr simd_level_set() noexcept = default;

  /// Adds `level`; returns *this.
  constexpr simd_level_set& add(simd_level level) noexcept {
    bits_ |= bit(level);
    return *this;
  }

  /// True if `level` is in the set.
  constexpr bool contains(simd_level level) const noexcept { return (bits_ & bit(level)) != 0; }

  /// The highest level in the set, or nothing if it is empty.
  std::optional<simd_level> best() const noexcept;

  /// The levels, lowest first, as "v2, v3" ("none" if empty).
  std::string to_string() const;

  friend constexpr bool operator==(simd_level_set, simd_level_set) = default;

private:
  static constexpr unsigned bit(simd_level level) noexcept {
    return 1u << static_cast<unsigned>(level);
  }

  unsigned bits_ = 0;
};

} // namespace dsq
