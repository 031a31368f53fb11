#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace dsq {

// How the step size changes over training, as a function of the step number and the base
// learning rate. Kinds (spec syntax as parsed by parse_lr_schedule):
//
//   constant                       base
//   step:every=E,gamma=G           base * G^floor(t / E)
//   cosine:total=T[,min=M]         M + (base - M) * (1 + cos(pi * min(t, T) / T)) / 2,
//                                  so base at t = 0 and M (default 0) from t = T on
//
// Each takes warmup=W: the value above is multiplied by (t + 1) / W while t < W, a linear ramp
// that reaches the full value at t = W - 1. The ramp multiplies the schedule instead of
// delaying it, so `every` and `total` count steps from the start of training either way.
class lr_schedule {
public:
  // constant, no warm-up
  lr_schedule() = default;

  // Each throws std::invalid_argument for a value that makes no schedule: every == 0,
  // gamma <= 0, total == 0, min < 0.
  static lr_schedule constant(std::uint64_t warmup = 0);
  static lr_schedule step(std::uint64_t every, float gamma, std::uint64_t warmup = 0);
  static lr_schedule cosine(std::uint64_t total, float min_lr = 0.0f, std::uint64_t warmup = 0);

  float at(std::uint64_t step, float base_lr) const;

  // The spec that parse_lr_schedule() turns back into this schedule.
  std::string spec() const;

private:
  enum class kind { constant, step, cosine };

  kind kind_ = kind::constant;
  std::uint64_t warmup_ = 0;
  std::uint64_t every_ = 0;
  float gamma_ = 1.0f;
  std::uint64_t total_ = 0;
  float min_lr_ = 0.0f;
};

// Throws std::invalid_argument naming the spec and what is wrong (unknown kind, unknown or
// missing option, bad value).
lr_schedule parse_lr_schedule(std::string_view spec);

} // namespace dsq
