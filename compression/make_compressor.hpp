#pragma once

#include "compression/compressor.hpp"
#include <dsq/spec_error.hpp>

#include <memory>
#include <string_view>

namespace dsq {

/// Builds a compressor from a spec string: a name, optionally followed by ':' and
/// comma-separated key=value parameters.
///
///   identity | fp16 | sign | sign:block=B | topk:k=K |
///   randomk:k=K[,unbiased=0|1][,shared_seed=0|1] | qsgd:s=S
///
/// or the name of an operator registered with dsq::register_operator (include/dsq/operator.hpp),
/// whose factory reads its parameters; the spec is then canonicalised (no spaces, parameters in
/// the given order) and may be at most 256 characters long.
///
/// K < 1 is a fraction of d, K >= 1 a count (a whole number). Throws spec_error naming the
/// problem and quoting the spec for an unknown name or parameter, a repeated parameter, a
/// missing k or s, or a value out of range.
std::unique_ptr<compressor> make_compressor(std::string_view spec);

} // namespace dsq
