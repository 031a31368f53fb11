#pragma once

// What a checkpoint was trained with. A resumed run must train the same problem the same way;
// only the options that change what is learned count (model, data, method, operators, residual
// switches, seed, batch, step size and its schedule, momentum, sharding, mode, --aggregate), not
// how long, with how many workers, or where outputs go.

#include "config/run_config.hpp"

#include <string>
#include <string_view>

namespace dsq {

/// The training-relevant options of `cfg` as text, one `--option=value` per line, in a fixed
/// order: stored in checkpoints, compared on --resume.
std::string training_spec_text(const run_config& cfg);

/// Empty when the two specifications agree; otherwise one clause per differing option, e.g.
/// "checkpoint was written with --seed=1, this run has --seed=2", joined by "; ".
std::string training_spec_differences(std::string_view checkpoint_spec, std::string_view run_spec);

} // namespace dsq
