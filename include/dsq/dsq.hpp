#pragma once

// Everything a program needs from dsq, in one include: `#include <dsq/dsq.hpp>`. Each public
// header also stands alone (CTest install_package compiles each in a translation unit of its
// own), so a program may include only the ones it uses.
//
// One line per public header of include/dsq/, in alphabetical order. Still to come (docs/api.md,
// issue 25), one line each once they exist: dataset.hpp, data.hpp, model.hpp, operator.hpp,
// random.hpp, registry.hpp, run.hpp, run_config.hpp, run_record.hpp.

#include <dsq/spec_args.hpp>
#include <dsq/spec_error.hpp>
#include <dsq/version.hpp>
