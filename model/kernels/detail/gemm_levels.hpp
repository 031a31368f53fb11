#pragma once

// The per-level entry points of gemm() (gemm_v2.cpp, gemm_v3.cpp, gemm_v4.cpp).

#include "model/kernels/gemm.hpp"

namespace dsq::gemm_detail {

namespace v2 {
/// gemm() with SSE: multiply, then add.
void gemm(const gemm_problem& problem);
} // namespace v2

namespace v3 {
/// gemm() with AVX2 and FMA.
void gemm(const gemm_problem& problem);
} // namespace v3

namespace v4 {
/// gemm() with AVX-512 and FMA.
void gemm(const gemm_problem& problem);
} // namespace v4

} // namespace dsq::gemm_detail
