// The CNN's run addition (model/kernels/add_into.hpp) at every SIMD level this machine has:
// bit for bit the scalar dst[i] + src[i], for runs of every length up to two vectors and a few
// longer ones, and nothing written past the run.
#include <boost/test/unit_test.hpp>

#include "base/simd/machine_levels.hpp"
#include "model/data_rng.hpp"
#include "model/kernels/add_into.hpp"

#include <cstring>
#include <vector>

using namespace dsq;

BOOST_AUTO_TEST_CASE(every_level_adds_each_entry_once_and_nothing_past_the_run) {
  data_rng rng(5);
  for (const auto level : all_simd_levels) {
    if (!machine_simd_levels().contains(level))
      continue;
    const add_into_kernel add_into = add_into_at(level);
    for (std::ptrdiff_t n = 0; n <= 200; n += n < 40 ? 1 : 37) {
      BOOST_TEST_CONTEXT("level " << name(level) << ", " << n << " floats") {
        std::vector<float> dst(std::size_t(n) + 17), src(std::size_t(n) + 17);
        for (auto& v : dst)
          v = static_cast<float>(rng.uniform() * 2 - 1);
        for (auto& v : src)
          v = static_cast<float>((rng.uniform() * 2 - 1) * 1e-3);
        std::vector<float> expected = dst;
        for (std::ptrdiff_t i = 0; i < n; ++i)
          expected[std::size_t(i)] = dst[std::size_t(i)] + src[std::size_t(i)];
        add_into(dst.data(), src.data(), n);
        BOOST_TEST(std::memcmp(dst.data(), expected.data(), sizeof(float) * dst.size()) == 0);
      }
    }
  }
}
