#pragma once
// Moved to the public header.
#include <dsq/model.hpp>
