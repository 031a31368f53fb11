#include <dsq/version.hpp>

namespace dsq {

// Compiled into the library, so that a program can tell the library it links from the headers
// it was compiled against.
const char* version() noexcept {
  return DSQ_VERSION_STRING;
}

} // namespace dsq
