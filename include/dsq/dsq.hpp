#pragma once

// Everything a program needs from dsq, in one include: `#include <dsq/dsq.hpp>`. Each public
// header also stands alone (CTest install_package compiles each in a translation unit of its
// own), so a program may include only the ones it uses.
//
// One line per public header of include/dsq/, in alphabetical order.

#include <dsq/data.hpp>
#include <dsq/dataset.hpp>
#include <dsq/model.hpp>
#include <dsq/operator.hpp>
#include <dsq/random.hpp>
#include <dsq/registry.hpp>
#include <dsq/run.hpp>
#include <dsq/run_config.hpp>
#include <dsq/run_record.hpp>
#include <dsq/spec_args.hpp>
#include <dsq/spec_error.hpp>
#include <dsq/version.hpp>
