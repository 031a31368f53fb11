#pragma once
// Moved to the public header.
#include <dsq/dataset.hpp>
