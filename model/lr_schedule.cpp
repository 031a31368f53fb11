#include "model/lr_schedule.hpp"

#include <cmath>
#include <numbers>
#include <stdexcept>

#include <fmt/format.h>

#include "base/keyed_spec.hpp"

namespace dsq {

lr_schedule lr_schedule::constant(std::uint64_t warmup) {
  lr_schedule s;
  s.warmup_ = warmup;
  return s;
}

lr_schedule lr_schedule::step(std::uint64_t every, float gamma, std::uint64_t warmup) {
  if (every == 0)
    throw std::invalid_argument("step schedule: every must be positive");
  if (!(gamma > 0))
    throw std::invalid_argument("step schedule: gamma must be positive");
  lr_schedule s;
  s.kind_ = kind::step;
  s.every_ = every;
  s.gamma_ = gamma;
  s.warmup_ = warmup;
  return s;
}

lr_schedule lr_schedule::cosine(std::uint64_t total, float min_lr, std::uint64_t warmup) {
  if (total == 0)
    throw std::invalid_argument("cosine schedule: total must be positive");
  if (!(min_lr >= 0))
    throw std::invalid_argument("cosine schedule: min must be >= 0");
  lr_schedule s;
  s.kind_ = kind::cosine;
  s.total_ = total;
  s.min_lr_ = min_lr;
  s.warmup_ = warmup;
  return s;
}

float lr_schedule::at(std::uint64_t t, float base_lr) const {
  double lr = base_lr;
  switch (kind_) {
  case kind::constant:
    break;
  case kind::step:
    lr *= std::pow(double(gamma_), double(t / every_));
    break;
  case kind::cosine: {
    const double progress = double(std::min(t, total_)) / double(total_);
    lr = min_lr_ + (base_lr - min_lr_) * 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
    break;
  }
  }
  if (t < warmup_)
    lr *= double(t + 1) / double(warmup_);
  return static_cast<float>(lr);
}

std::string lr_schedule::spec() const {
  std::string text;
  switch (kind_) {
  case kind::constant:
    text = "constant";
    break;
  case kind::step:
    text = fmt::format("step:every={},gamma={:g}", every_, gamma_);
    break;
  case kind::cosine:
    text = fmt::format("cosine:total={}", total_);
    if (min_lr_ != 0)
      text += fmt::format(",min={:g}", min_lr_);
    break;
  }
  if (warmup_ > 0)
    text += fmt::format("{}warmup={}", kind_ == kind::constant ? ":" : ",", warmup_);
  return text;
}

lr_schedule parse_lr_schedule(std::string_view text) {
  keyed_spec spec(text, "learning-rate schedule");
  const auto& name = spec.name();
  try {
    if (name == "constant") {
      spec.reject_unknown({"warmup"});
      return lr_schedule::constant(spec.take_unsigned("warmup").value_or(0));
    }
    if (name == "step") {
      spec.reject_unknown({"every", "gamma", "warmup"});
      const auto every = spec.take_unsigned("every");
      if (!every)
        throw std::invalid_argument("every=STEPS is required");
      return lr_schedule::step(*every, static_cast<float>(spec.take_double("gamma").value_or(0.1)),
                               spec.take_unsigned("warmup").value_or(0));
    }
    if (name == "cosine") {
      spec.reject_unknown({"total", "min", "warmup"});
      const auto total = spec.take_unsigned("total");
      if (!total)
        throw std::invalid_argument("total=STEPS is required");
      return lr_schedule::cosine(*total, static_cast<float>(spec.take_double("min").value_or(0)),
                                 spec.take_unsigned("warmup").value_or(0));
    }
  } catch (const std::invalid_argument& e) {
    const std::string message = e.what();
    // Messages of keyed_spec already name the spec.
    if (message.starts_with("learning-rate schedule spec"))
      throw;
    throw std::invalid_argument(spec.error_message(message));
  }
  throw std::invalid_argument(spec.error_message(
      fmt::format("unknown schedule '{}' (known: constant, step, cosine)", name)));
}

} // namespace dsq
