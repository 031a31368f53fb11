#pragma once

// Eigen splits a matrix product into blocks sized from the CPU's caches, which it reads at run
// time (cpuid). The block depth decides in which order a dot product's terms are summed, so the
// same model, data and seed gave different floats on machines with different caches (a 32 KiB
// against a 48 KiB L1 changes an MLP's gradient in its last bits, and a run's numbers after a
// few hundred steps). Pinning the sizes makes a run's results depend on the build's instruction
// set only, not on the machine that runs it.

#include <cstddef>

namespace dsq {

/// The cache sizes every product is blocked for: those of the project's reference machine
/// (AMD EPYC, 48 KiB L1d, 1 MiB L2, as Eigen reads them there), so that its results stay as
/// they were. On a machine with other caches the blocks fit a little worse; the numbers do not
/// change.
struct product_blocking {
  std::ptrdiff_t l1 = 48 * 1024;
  std::ptrdiff_t l2 = 1024 * 1024;
  std::ptrdiff_t l3 = 532676608;
};

/// Sets Eigen's cache sizes to product_blocking{} once per process (thread-safe; every model's
/// constructor calls it, before any product).
void pin_product_blocking();

} // namespace dsq
