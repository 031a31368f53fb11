#pragma once

// The largest model dsq builds. A model beyond it is a typo (`mlp:hidden=999999999`) rather than
// a plan: its parameters alone would take gigabytes, and every replica, residual and message
// holds a copy of them, so it would end in bad_alloc part-way through allocating, or in the
// kernel's OOM killer. make_model() refuses it, naming the limit, before allocating anything.

#include <cstdint>

namespace dsq {

/// Weights and biases of a model: 10^8 (400 MB per float copy; the MNIST MLP has 235 146, the
/// default CNN 3.3 million). `dsq local` holds some ten copies per worker and the server.
inline constexpr std::uint64_t max_model_parameters = 100'000'000;

} // namespace dsq
