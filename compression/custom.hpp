#pragma once

#include "compression/compressor.hpp"
#include <dsq/operator.hpp>

#include <memory>
#include <string>

namespace dsq {

/// A registered operator (include/dsq/operator.hpp) seen as a compressor, so that the
/// error-feedback wrapper, the engines and unbiased() use it as they use the built-ins. Its
/// messages carry the spec and the operator's payload; decoding finds the operator again by spec
/// in the receiver's registry.
class custom_compressor final : public compressor {
public:
  /// `spec` is the canonical spec the operator was built from (what its messages carry).
  custom_compressor(std::string spec, std::shared_ptr<const custom_operator> op);

  compressed_message compress(std::span<const float> v, rng_engine& rng) const override;
  bool unbiased() const override { return op_->unbiased(); }
  std::string spec() const override { return spec_; }

private:
  std::string spec_;
  std::shared_ptr<const custom_operator> op_;
};

} // namespace dsq
