// The models' matrix product (model/kernels/gemm.hpp) at every SIMD level this machine has,
// against its scalar reference: bit for bit, as gemm.hpp promises (same summation order; v2
// rounds the reference's multiply and add, v3 and v4 its fused multiply-add); and the reference
// against a product in double, within float rounding.
#include <boost/test/unit_test.hpp>

#include "base/simd/machine_levels.hpp"
#include "model/data_rng.hpp"
#include "model/kernels/gemm.hpp"

#include <cmath>
#include <cstring>
#include <vector>

using namespace dsq;

namespace {

struct shape {
  std::ptrdiff_t m, n, k;
  bool a_transposed, b_transposed;
};

// Full tiles of every level and edges of every size, depths within one block, across blocks
// (gemm_depth_block = 256) and empty; both orientations of both operands; B with contiguous
// rows (packed a group of panels at a time) wider than a block of columns, with a last group of
// fewer panels, and the MLP's weight gradient (128 x 784 from a batch of 128); B read in place
// for A of more rows than one of v4's blocks (96).
const shape shapes[] = {
    {1, 1, 1, false, false},     {3, 5, 7, false, false},      {8, 4, 16, false, false},
    {16, 6, 300, false, false},  {32, 8, 256, false, false},   {37, 29, 513, true, true},
    {64, 50, 33, false, true},   {100, 13, 260, true, false},  {257, 70, 40, false, false},
    {33, 1025, 9, false, false}, {300, 9, 1030, true, false},  {5, 3, 0, false, false},
    {65, 17, 700, true, true},   {48, 128, 64, false, true},   {130, 31, 257, false, true},
    {40, 1100, 70, false, true}, {128, 784, 128, false, true}, {96, 20, 300, false, false},
};

std::vector<float> random_values(std::size_t size, std::uint64_t seed) {
  data_rng rng(seed);
  std::vector<float> v(size);
  for (auto& x : v)
    x = static_cast<float>(rng.normal());
  return v;
}

// The problem on the given storage: A stored m x k (or k x m if transposed), B likewise, C with
// two spare rows (ldc = m + 2) whose values must survive.
gemm_problem problem_of(const shape& s, const std::vector<float>& a, const std::vector<float>& b,
                        std::vector<float>& c, bool accumulate) {
  const auto a_op = s.a_transposed ? matrix_operand::transpose_of(a.data(), s.k)
                                   : matrix_operand::column_major(a.data(), s.m);
  const auto b_op = s.b_transposed ? matrix_operand::transpose_of(b.data(), s.n)
                                   : matrix_operand::column_major(b.data(), s.k);
  return {s.m, s.n, s.k, a_op, b_op, c.data(), s.m + 2, accumulate};
}

} // namespace

BOOST_AUTO_TEST_SUITE(gemm_kernels)

BOOST_AUTO_TEST_CASE(every_level_reproduces_the_reference_bit_for_bit) {
  std::uint64_t seed = 1;
  for (const auto& s : shapes)
    for (const bool accumulate : {false, true})
      for (const auto level : all_simd_levels) {
        if (!machine_simd_levels().contains(level))
          continue;
        BOOST_TEST_CONTEXT("level " << name(level) << ", m " << s.m << " n " << s.n << " k " << s.k
                                    << (accumulate ? ", accumulating" : "")) {
          const auto a = random_values(std::size_t(s.m * s.k), ++seed);
          const auto b = random_values(std::size_t(s.k * s.n), ++seed);
          const auto c0 = random_values(std::size_t((s.m + 2) * s.n), ++seed);
          auto got = c0, want = c0;
          gemm(level, problem_of(s, a, b, got, accumulate));
          gemm_reference(problem_of(s, a, b, want, accumulate), gemm_fuses(level));
          BOOST_TEST(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)) == 0);
        }
      }
}

BOOST_AUTO_TEST_CASE(the_reference_is_the_product_within_float_rounding) {
  std::uint64_t seed = 100;
  for (const auto& s : shapes)
    for (const bool fused : {false, true}) {
      const auto a = random_values(std::size_t(s.m * s.k), ++seed);
      const auto b = random_values(std::size_t(s.k * s.n), ++seed);
      const auto c0 = random_values(std::size_t((s.m + 2) * s.n), ++seed);
      auto c = c0;
      const auto p = problem_of(s, a, b, c, true);
      gemm_reference(p, fused);
      for (std::ptrdiff_t j = 0; j < s.n; ++j)
        for (std::ptrdiff_t i = 0; i < s.m + 2; ++i) {
          const auto at = std::size_t(i + j * (s.m + 2));
          if (i >= s.m) { // below the product: untouched
            BOOST_TEST(c[at] == c0[at]);
            continue;
          }
          double exact = c0[at], magnitude = std::abs(c0[at]);
          for (std::ptrdiff_t q = 0; q < s.k; ++q) {
            const double term = double(p.a.data[i * p.a.row_stride + q * p.a.col_stride]) *
                                double(p.b.data[q * p.b.row_stride + j * p.b.col_stride]);
            exact += term;
            magnitude += std::abs(term);
          }
          // Recursive summation of k + 1 terms: |error| <= (k + 1) * eps * sum |terms|.
          BOOST_TEST(std::abs(double(c[at]) - exact) <= double(s.k + 1) * 6e-8 * magnitude);
        }
    }
}

BOOST_AUTO_TEST_CASE(v3_and_v4_agree_and_v2_rounds_differently) {
  // What docs/model.md says: fused levels give the same numbers, the unfused one others.
  const shape s{64, 40, 300, false, false};
  const auto a = random_values(std::size_t(s.m * s.k), 7);
  const auto b = random_values(std::size_t(s.k * s.n), 8);
  std::vector<float> unfused(std::size_t((s.m + 2) * s.n)), fused = unfused;
  gemm_reference(problem_of(s, a, b, unfused, false), false);
  gemm_reference(problem_of(s, a, b, fused, false), true);
  BOOST_TEST(unfused != fused);
  BOOST_TEST(!gemm_fuses(simd_level::v2));
  BOOST_TEST(gemm_fuses(simd_level::v3));
  BOOST_TEST(gemm_fuses(simd_level::v4));
}

BOOST_AUTO_TEST_SUITE_END()
