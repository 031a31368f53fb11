#pragma once

// The blocking of gemm() that every level shares, in baseline code: it packs the operands and
// calls its level's micro-kernel on each tile. Included only by gemm_v2/v3/v4.cpp. The driver
// is a template instantiated with each level's micro-kernel type, which lives in that file's
// anonymous namespace, so every instantiation is that file's own; the packing helpers are
// plain inline functions compiled for the baseline (an inlined copy takes its caller's
// instructions; any out-of-line copy the linker keeps runs everywhere).
//
// The blocks (Goto's): B is packed kc x nc at a time into panels of NR columns; A is read in
// place when it is column-major (its tiles' rows are contiguous), else packed mc x kc at a time
// into panels of MR rows, and an incomplete last panel of rows is packed with zero rows. Each
// micro-kernel call sums one kc-deep block of an MR x NR tile from zero and adds it to C (or
// writes it on the first block without `accumulate`): the order gemm.hpp promises, whatever
// MR, NR, mc and nc are. Only kc (gemm_depth_block) is part of the order. A product whose B
// would be costly to pack and whose A is small is computed transposed (better_transposed).

#include "model/kernels/gemm.hpp"

#include <cstddef>
#include <cstring>
#include <immintrin.h>
#include <new>

namespace dsq::gemm_detail {

using index = std::ptrdiff_t;

/// The smaller of two indices (not std::min: no standard template in code compiled per level).
inline index smaller(index a, index b) noexcept {
  return a < b ? a : b;
}

/// Rounds n up to a multiple of `unit`.
inline index round_up(index n, index unit) noexcept {
  return (n + unit - 1) / unit * unit;
}

/// A tile's micro-kernel: sums kc terms a(i, p) * b(p, j) for the tile's MR rows and `cols`
/// columns from zero, a's column p at a + p * a_step (MR floats); b(p, j) at b[p * NR + j]
/// (packed; b_step unused), or at b[p + j * b_step] (the kernels of tiles_b_in_place: B read
/// where it is, its columns contiguous); then c(i, j) = sum (overwrite) or c(i, j) + sum.
using tile_kernel = void (*)(index kc, const float* a, index a_step, const float* b, index b_step,
                             float* c, index ldc, bool overwrite);

/// A 64-byte aligned float buffer of a fixed size, kept for the thread's life.
class aligned_floats {
public:
  explicit aligned_floats(index size)
      : data_(static_cast<float*>(
            ::operator new (sizeof(float) * std::size_t(size), std::align_val_t{64}))) {}
  ~aligned_floats() { ::operator delete (data_, std::align_val_t{64}); }
  aligned_floats(const aligned_floats&) = delete;
  aligned_floats& operator=(const aligned_floats&) = delete;
  float* data() const noexcept { return data_; }

private:
  float* data_;
};

/// dst[t * dst_stride + l] = src[l * src_stride + t] for l < lines and t < length: `lines`
/// contiguous runs of src become columns of dst, four by four through SSE 4 x 4 transposes.
inline void transpose_into(const float* src, index src_stride, index lines, index length,
                           float* dst, index dst_stride) noexcept {
  index l = 0;
  for (; l + 4 <= lines; l += 4) {
    const float* s0 = src + l * src_stride;
    index t = 0;
    for (; t + 4 <= length; t += 4) {
      __m128 r0 = _mm_loadu_ps(s0 + t), r1 = _mm_loadu_ps(s0 + src_stride + t);
      __m128 r2 = _mm_loadu_ps(s0 + 2 * src_stride + t), r3 = _mm_loadu_ps(s0 + 3 * src_stride + t);
      _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
      _mm_storeu_ps(dst + t * dst_stride + l, r0);
      _mm_storeu_ps(dst + (t + 1) * dst_stride + l, r1);
      _mm_storeu_ps(dst + (t + 2) * dst_stride + l, r2);
      _mm_storeu_ps(dst + (t + 3) * dst_stride + l, r3);
    }
    for (; t < length; ++t)
      for (index q = 0; q < 4; ++q)
        dst[t * dst_stride + l + q] = s0[q * src_stride + t];
  }
  for (; l < lines; ++l)
    for (index t = 0; t < length; ++t)
      dst[t * dst_stride + l] = src[l * src_stride + t];
}

/// Packs rows [p0, p0 + kc) and columns [j0, j0 + nc) of b into panels of nr columns: panel q
/// at out + q * kc * nr, row p of it at + p * nr; columns past nc are zero.
inline void pack_b(matrix_operand b, index p0, index j0, index kc, index nc, index nr, float* out) {
  if (b.col_stride == 1) {
    // Rows contiguous: a group of panels at least a cache line wide at a time, row by row, so
    // that each cache line of B is read once and each panel is written in order. (Writing
    // every panel for each row instead scatters the stores kc * nr floats apart: at kc = 128
    // and nr = 8 that is 4 KiB, every store into the same L1 set; the MLP's weight gradient at
    // batch 128 spent a quarter of its time there.)
    const index group = (16 + nr - 1) / nr;
    for (index jg = 0; jg < nc; jg += group * nr) {
      const index panels = smaller(group, (nc - jg + nr - 1) / nr);
      for (index p = 0; p < kc; ++p) {
        const float* src = b.data + (p0 + p) * b.row_stride + j0 + jg;
        float* dst = out + jg * kc + p * nr;
        for (index q = 0; q < panels; ++q, src += nr, dst += kc * nr) {
          const index cols = smaller(nr, nc - jg - q * nr);
          index j = 0;
          for (; j < cols; ++j)
            dst[j] = src[j];
          for (; j < nr; ++j)
            dst[j] = 0.0f;
        }
      }
    }
    return;
  }
  for (index jr = 0; jr < nc; jr += nr, out += kc * nr) { // columns contiguous (or neither)
    const index cols = smaller(nr, nc - jr);
    const float* src = b.data + p0 * b.row_stride + (j0 + jr) * b.col_stride;
    if (b.row_stride == 1)
      transpose_into(src, b.col_stride, cols, kc, out, nr);
    else
      for (index j = 0; j < cols; ++j)
        for (index p = 0; p < kc; ++p)
          out[p * nr + j] = src[p * b.row_stride + j * b.col_stride];
    for (index j = cols; j < nr; ++j)
      for (index p = 0; p < kc; ++p)
        out[p * nr + j] = 0.0f;
  }
}

/// Packs rows [i0, i0 + mc) and columns [p0, p0 + kc) of a into panels of mr rows: panel q at
/// out + q * kc * mr, column p of it at + p * mr; rows past mc are zero.
inline void pack_a(matrix_operand a, index i0, index p0, index mc, index kc, index mr, float* out) {
  for (index ir = 0; ir < mc; ir += mr, out += kc * mr) {
    const index rows = smaller(mr, mc - ir);
    if (a.row_stride == 1) { // columns contiguous
      for (index p = 0; p < kc; ++p) {
        const float* src = a.data + i0 + ir + (p0 + p) * a.col_stride;
        float* dst = out + p * mr;
        index i = 0;
        for (; i < rows; ++i)
          dst[i] = src[i];
        for (; i < mr; ++i)
          dst[i] = 0.0f;
      }
    } else { // rows contiguous (or neither): copy row by row
      const float* src = a.data + (i0 + ir) * a.row_stride + p0 * a.col_stride;
      if (a.col_stride == 1)
        transpose_into(src, a.row_stride, rows, kc, out, mr);
      else
        for (index i = 0; i < rows; ++i)
          for (index p = 0; p < kc; ++p)
            out[p * mr + i] = src[i * a.row_stride + p * a.col_stride];
      for (index i = rows; i < mr; ++i)
        for (index p = 0; p < kc; ++p)
          out[p * mr + i] = 0.0f;
    }
  }
}

/// Adds (or writes, if `overwrite`) the first rows x cols entries of a tile computed into
/// `tile` (column-major, mr rows) to C, entry (i, j) at c[i * row_stride + j * col_stride]: one
/// rounding per entry, as the micro-kernel's own.
inline void merge_tile(const float* tile, index mr, index rows, index cols, float* c,
                       index row_stride, index col_stride, bool overwrite) {
  if (row_stride != 1) { // C transposed: its rows are contiguous, so walk them
    for (index i = 0; i < rows; ++i)
      for (index j = 0; j < cols; ++j) {
        float& to = c[i * row_stride + j * col_stride];
        to = overwrite ? tile[i + j * mr] : to + tile[i + j * mr];
      }
    return;
  }
  for (index j = 0; j < cols; ++j)
    for (index i = 0; i < rows; ++i) {
      float& to = c[i * row_stride + j * col_stride];
      to = overwrite ? tile[i + j * mr] : to + tile[i + j * mr];
    }
}

/// The most rows of A for which B is read in place (b_read_in_place): every level's MC, and
/// two of v4's blocks of rows, which read each panel of B from L1 or L2 again (the MLP's first
/// layer, 128 x 784 times a batch of 32 or 128, whose B packed cost 5% of its gradient).
inline constexpr index b_in_place_rows = 128;

/// True if B is read where it is rather than packed: its columns are contiguous (a panel's
/// kc rows of one column are one run) and A has at most `rows_per_block` rows, so that each
/// panel of B serves only the few tiles of A's rows, too few to pay for packing it (the
/// CNN's convolution: 64 rows of weights times the 800 x 6272 im2col matrix).
inline bool b_read_in_place(const gemm_problem& p, index rows_per_block) noexcept {
  return p.b.row_stride == 1 && p.m <= rows_per_block;
}

/// True if C = A B is cheaper computed as C^T = B^T A^T: when packing A^T (or reading it in
/// place) instead of B saves more than writing C transposed (tile by tile, through a buffer)
/// costs. The results are the same bits either way: each entry's terms are summed in the same
/// order, and a * b rounds as b * a.
inline bool better_transposed(const gemm_problem& p, index depth_block,
                              index rows_per_block) noexcept {
  const double blocks = double((p.k + depth_block - 1) / depth_block);
  const bool b_in_place = b_read_in_place(p, rows_per_block);
  const bool bt_in_place = p.a.col_stride == 1 && p.n <= rows_per_block; // A^T's columns
  const double as_given =
      (b_in_place ? 0 : double(p.k) * double(p.n)) + (p.a.row_stride == 1 ? 0 : double(p.m * p.k));
  const double transposed = (bt_in_place ? 0 : double(p.k) * double(p.m)) +
                            (p.b.col_stride == 1 ? 0 : double(p.n * p.k)) +
                            2 * double(p.m) * double(p.n) * blocks;
  return transposed < as_given;
}

/// A depth block of at most short_depth terms read from an A in place takes up to
/// short_depth_rows of its rows at once instead of MC: such a product costs writing C more than
/// its arithmetic, and a block of all of A's rows walks each column of C in one run rather than
/// MC rows of every column in turn (the CNN's dense weight gradient, 1024 x 3136 from a batch of
/// 32: 1.8 -> 1.5 ms at v4). A's block, at most 512 KiB, stays in L2. Speed only.
inline constexpr index short_depth = 64, short_depth_rows = 2048;

/// gemm() with a level's micro-kernels. Micro has MR, NR (tile rows and columns), MC, NC
/// (rows of A and columns of B per block: speed only) and tiles[c - 1], the kernel for a tile
/// of c <= NR columns. With `c_transposed`, entry (i, j) of the product goes to c[i * ldc + j].
template <class Micro>
void blocked_gemm(const gemm_problem& p, bool c_transposed) {
  constexpr index MR = Micro::MR, NR = Micro::NR, MC = Micro::MC, NC = Micro::NC;
  constexpr index KC = gemm_depth_block;
  static_assert(MC % MR == 0 && NC % NR == 0);
  thread_local const aligned_floats b_buffer(KC * NC), a_buffer(KC * MC), tile_buffer(MR * NR);
  float* const packed_b = b_buffer.data();
  float* const packed_a = a_buffer.data();
  const index c_row_stride = c_transposed ? p.ldc : 1, c_col_stride = c_transposed ? 1 : p.ldc;
  // A column-major A is read in place, except an incomplete last panel of rows.
  const bool a_in_place = p.a.row_stride == 1;
  const bool b_in_place = b_read_in_place(p, b_in_place_rows);
  const tile_kernel* const kernels = b_in_place ? Micro::tiles_b_in_place : Micro::tiles;
  for (index jc = 0; jc < p.n; jc += NC) {
    const index nc = smaller(NC, p.n - jc);
    for (index pc = 0; pc < p.k; pc += KC) {
      const index kc = smaller(KC, p.k - pc);
      const bool overwrite = pc == 0 && !p.accumulate;
      if (!b_in_place)
        pack_b(p.b, pc, jc, kc, nc, NR, packed_b);
      const index rows_per_block = a_in_place && kc <= short_depth ? short_depth_rows : MC;
      for (index ic = 0; ic < p.m; ic += rows_per_block) {
        const index mc = smaller(rows_per_block, p.m - ic);
        const index full_rows = mc / MR * MR;
        if (!a_in_place)
          pack_a(p.a, ic, pc, mc, kc, MR, packed_a);
        else if (full_rows < mc) // the last panel only, at the buffer's start
          pack_a(p.a, ic + full_rows, pc, mc - full_rows, kc, MR, packed_a);
        for (index jr = 0; jr < nc; jr += NR) {
          const index cols = smaller(NR, nc - jr);
          const tile_kernel kernel = kernels[cols - 1];
          const float* const b_panel =
              b_in_place ? p.b.data + pc + (jc + jr) * p.b.col_stride : packed_b + jr * kc;
          for (index ir = 0; ir < mc; ir += MR) {
            float* const c = p.c + (ic + ir) * c_row_stride + (jc + jr) * c_col_stride;
            const float* a_panel;
            index a_step = MR;
            if (!a_in_place)
              a_panel = packed_a + ir * kc;
            else if (ir < full_rows) {
              a_panel = p.a.data + (ic + ir) + pc * p.a.col_stride;
              a_step = p.a.col_stride;
            } else
              a_panel = packed_a;
            const index rows = smaller(MR, mc - ir);
            if (rows == MR && !c_transposed) {
              kernel(kc, a_panel, a_step, b_panel, p.b.col_stride, c, p.ldc, overwrite);
            } else {
              kernel(kc, a_panel, a_step, b_panel, p.b.col_stride, tile_buffer.data(), MR, true);
              merge_tile(tile_buffer.data(), MR, rows, cols, c, c_row_stride, c_col_stride,
                         overwrite);
            }
          }
        }
      }
    }
  }
}

/// gemm() with a level's micro-kernels (see blocked_gemm), in the cheaper orientation.
template <class Micro>
void blocked_gemm(const gemm_problem& p) {
  if (p.m <= 0 || p.n <= 0)
    return;
  if (p.k <= 0) {
    if (!p.accumulate)
      for (index j = 0; j < p.n; ++j)
        std::memset(p.c + j * p.ldc, 0, sizeof(float) * std::size_t(p.m));
    return;
  }
  if (!better_transposed(p, gemm_depth_block, b_in_place_rows))
    return blocked_gemm<Micro>(p, false);
  // C^T = B^T A^T: B^T(i, q) = B(q, i), A^T(q, j) = A(j, q).
  const gemm_problem t{p.n,
                       p.m,
                       p.k,
                       {p.b.data, p.b.col_stride, p.b.row_stride},
                       {p.a.data, p.a.col_stride, p.a.row_stride},
                       p.c,
                       p.ldc,
                       p.accumulate};
  blocked_gemm<Micro>(t, true);
}

} // namespace dsq::gemm_detail
