#pragma once

#include <dsq/random.hpp>
#include <dsq/spec_args.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

namespace dsq {

/// A compression operator C[.] that a program brings. Its messages carry the spec it was built
/// from and an opaque payload of exactly payload_bytes(d) bytes, which the runtime frames,
/// bounds and checks like the built-in formats (compression/wire.*); the error-feedback wrapper,
/// the decoder fuzzing and the unbiasedness declaration work for it as for the built-ins.
/// Implementations hold only their configuration: one instance may be used by several threads.
class custom_operator {
public:
  virtual ~custom_operator() = default;
  /// The exact payload size of C[v] for a vector of `dimension` coordinates.
  virtual std::size_t payload_bytes(std::uint32_t dimension) const = 0;
  /// Writes C[v] into `payload` (payload_bytes(v.size()) bytes), drawing randomness from rng only.
  virtual void encode(std::span<const float> v, rng_engine& rng,
                      std::span<std::uint8_t> payload) const = 0;
  /// out = C[v] from a payload of payload_bytes(out.size()) bytes. The bytes come from the
  /// network: any content must decode to something (or throw std::invalid_argument), never crash.
  virtual void decode(std::span<const std::uint8_t> payload, std::span<float> out) const = 0;
  /// True if E[C[v]] = v for every v.
  virtual bool unbiased() const = 0;
};

/// Builds a custom_operator from the parameters of its spec ("mine:k=3" -> args.count("k")).
using operator_factory = std::function<std::unique_ptr<custom_operator>(const spec_args& args)>;

/// Makes `name` usable wherever an operator spec is (--compressor=name:..., --uplink, --downlink,
/// make_compressor). Throws std::invalid_argument if the name is empty, not [a-z0-9_-]+, a
/// built-in's or already registered. Register before the first run of the process, in every
/// process of the run (server and workers): a message whose operator is not registered in the
/// receiver is refused with an error naming the operator.
void register_operator(std::string name, operator_factory factory);

} // namespace dsq
