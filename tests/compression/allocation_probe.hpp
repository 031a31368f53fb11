#pragma once

#include <cstddef>

namespace dsq::test {

/// The largest single allocation (through operator new) since the last reset_allocation_probe(),
/// so that tests can show that a decoder never asks for memory its input does not justify.
/// allocation_probe.cpp replaces this test binary's global operator new to measure it.
std::size_t largest_allocation() noexcept;
void reset_allocation_probe() noexcept;

} // namespace dsq::test
