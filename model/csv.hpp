#pragma once

#include <filesystem>

#include "model/dataset.hpp"

namespace dsq {

enum class csv_label_column { first, last };

// Reads comma-separated numbers, one sample per line, the class label in the first (or last)
// column. A first line whose label field is not a number is taken as a header and skipped; blank
// lines are skipped; quoting is not supported (the format is meant for numeric exports).
//
// Labels are kept as written (integers) and num_classes is left at 0: call encode_labels() on
// train and test together. Errors are dsq::data_error naming the file, and for a bad value or
// a wrong number of columns the line and column.
dataset read_csv(const std::filesystem::path& file,
                 csv_label_column label_column = csv_label_column::first);

} // namespace dsq
