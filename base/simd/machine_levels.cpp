#include "base/simd/machine_levels.hpp"

#include <cstdint>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

namespace dsq {

namespace {

#if defined(__x86_64__)
// Register bits of the features each level needs (Intel SDM vol. 2A, CPUID).
constexpr std::uint32_t bit(unsigned n) {
  return std::uint32_t{1} << n;
}

struct cpuid_registers {
  std::uint32_t eax = 0, ebx = 0, ecx = 0, edx = 0;
};

cpuid_registers cpuid(unsigned leaf, unsigned subleaf) noexcept {
  cpuid_registers r;
  if (!__get_cpuid_count(leaf, subleaf, &r.eax, &r.ebx, &r.ecx, &r.edx))
    return {};
  return r;
}

// Which register states the OS saves on a context switch (XCR0); read with xgetbv, spelled in
// assembly so that this file needs no -mxsave.
std::uint64_t saved_register_states() noexcept {
  std::uint32_t low = 0, high = 0;
  __asm__("xgetbv" : "=a"(low), "=d"(high) : "c"(0));
  return (std::uint64_t{high} << 32) | low;
}

simd_level_set detect() noexcept {
  simd_level_set levels;
  const cpuid_registers basic = cpuid(1, 0);
  const bool v2 = (basic.ecx & bit(0)) && (basic.ecx & bit(9)) && (basic.ecx & bit(13)) &&
                  (basic.ecx & bit(19)) && (basic.ecx & bit(20)) && (basic.ecx & bit(23));
  if (!v2)
    return levels; // older than the build's baseline: nothing can run (and this never will)
  levels.add(simd_level::v2);

  if (!(basic.ecx & bit(27))) // no OSXSAVE: the OS saves no AVX state
    return levels;
  const std::uint64_t xcr0 = saved_register_states();
  const bool os_avx = (xcr0 & 0x6) == 0x6;      // SSE and AVX (YMM) state
  const bool os_avx512 = (xcr0 & 0xe6) == 0xe6; // ... and opmask, ZMM0-15 high, ZMM16-31
  const cpuid_registers extended = cpuid(7, 0);
  const cpuid_registers amd = cpuid(0x80000001u, 0);
  const bool v3 = os_avx && (basic.ecx & bit(12)) /* FMA */ && (basic.ecx & bit(22)) /* MOVBE */ &&
                  (basic.ecx & bit(28)) /* AVX */ && (basic.ecx & bit(29)) /* F16C */ &&
                  (extended.ebx & bit(3)) /* BMI1 */ && (extended.ebx & bit(5)) /* AVX2 */ &&
                  (extended.ebx & bit(8)) /* BMI2 */ && (amd.ecx & bit(5)) /* LZCNT */;
  if (!v3)
    return levels;
  levels.add(simd_level::v3);
  const bool v4 = os_avx512 && (extended.ebx & bit(16)) /* F */ &&
                  (extended.ebx & bit(17)) /* DQ */ && (extended.ebx & bit(28)) /* CD */ &&
                  (extended.ebx & bit(30)) /* BW */ && (extended.ebx & bit(31)) /* VL */;
  if (v4)
    levels.add(simd_level::v4);
  return levels;
}
#else
simd_level_set detect() noexcept {
  return {};
}
#endif

} // namespace

simd_level_set machine_simd_levels() noexcept {
  static const simd_level_set levels = detect();
  return levels;
}

} // namespace dsq
