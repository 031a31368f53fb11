// Kept in its own file: with the replacement operators visible, GCC inlines them into callers
// and misreports malloc/free pairs as mismatched new/delete.

#include "allocation_probe.hpp"

#include <algorithm>
#include <cstdlib>
#include <new>

namespace {
std::size_t largest = 0;
}

void* operator new(std::size_t size) {
  largest = std::max(largest, size);
  if (void* p = std::malloc(size == 0 ? 1 : size))
    return p;
  throw std::bad_alloc{};
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}

namespace dsq::test {
std::size_t largest_allocation() noexcept {
  return largest;
}
void reset_allocation_probe() noexcept {
  largest = 0;
}
} // namespace dsq::test
