#pragma once

#include <stdexcept>
#include <string>

namespace dsq {

// A model spec that make_model() cannot build: unknown model, unknown option or a bad value.
// The message names the spec and the known models.
class model_spec_error : public std::invalid_argument {
public:
  using std::invalid_argument::invalid_argument;
};

} // namespace dsq
