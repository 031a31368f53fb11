#include "compression/randomk.hpp"

#include "compression/detail/write_mode.hpp"
#include "compression/sample_indices.hpp"

#include <algorithm>
#include <stdexcept>

namespace dsq {

std::string randomk_compressor::spec() const {
  std::string spec = "randomk:k=" + k_.to_string();
  if (unbiased_)
    spec += ",unbiased=1";
  if (shared_seed_)
    spec += ",shared_seed=1";
  return spec;
}

compressed_message randomk_compressor::compress(std::span<const float> v, rng_engine& rng) const {
  compressed_message m;
  m.op = operator_id::randomk;
  m.dim = detail::checked_dimension(v.size());
  m.k = k_.resolve(m.dim);
  m.shared_seed = shared_seed_;
  std::vector<std::uint32_t> indices;
  if (shared_seed_) {
    m.seed = rng();
    rng_engine index_rng{m.seed};
    indices = sample_indices(index_rng, m.k, m.dim);
  } else {
    indices = sample_indices(rng, m.k, m.dim);
  }
  const float factor =
      unbiased_ && m.k > 0 ? static_cast<float>(double(m.dim) / double(m.k)) : 1.0f;
  m.values.resize(m.k);
  for (std::size_t i = 0; i < indices.size(); ++i)
    m.values[i] = v[indices[i]] * factor;
  if (!shared_seed_)
    m.indices = std::move(indices);
  return m;
}

// Shared by top-k and random-k: both carry k values at increasing indices.
void detail::decode_sparse(const compressed_message& m, std::span<float> out, write_mode mode) {
  std::vector<std::uint32_t> regenerated;
  if (m.shared_seed) {
    rng_engine index_rng{m.seed};
    regenerated = sample_indices(index_rng, m.k, m.dim);
  }
  const std::vector<std::uint32_t>& indices = m.shared_seed ? regenerated : m.indices;
  // Checked here rather than trusted: a hand-built message could point outside out.
  for (const std::uint32_t j : indices)
    if (j >= out.size())
      throw std::invalid_argument("decompress: sparse index out of range");
  if (!mode.accumulate)
    std::fill(out.begin(), out.end(), 0.0f);
  with_writer(mode, [&](auto write) {
    for (std::size_t i = 0; i < indices.size(); ++i)
      write(out[indices[i]], m.values[i]);
  });
}

} // namespace dsq
