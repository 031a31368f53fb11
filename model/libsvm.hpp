#pragma once

#include <filesystem>

#include <Eigen/Core>

#include "model/dataset.hpp"

namespace dsq {

// Reads a LIBSVM / SVMlight file ("label index:value index:value ...", indices 1-based, '#'
// starts a comment, blank lines skipped) into a dense data set: feature index k lands in row
// k-1, absent features are 0.
//
// Labels are kept as written (they must be integers, e.g. -1/+1 or 1..10) and num_classes is
// left at 0: call encode_labels() on train and test together to map them to 0..K-1.
//
// `num_features` fixes the dimension; an index beyond it is an error. With 0 the dimension is
// the largest index in the file. Errors are dsq::data_error naming the file and, for a
// malformed line, its line number.
dataset read_libsvm(const std::filesystem::path& file, Eigen::Index num_features = 0);

} // namespace dsq
