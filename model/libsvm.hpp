#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

#include <Eigen/Core>

#include "model/dataset.hpp"

namespace dsq {

// Reads LIBSVM / SVMlight files ("label index:value index:value ...", '#' starts a comment,
// blank lines skipped) into dense data sets: absent features are 0.
//
// Indices are 1-based in LIBSVM's own convention, but scikit-learn's dump_svmlight_file writes
// 0-based ones by default. A file is read in two steps so that the numbering can be decided from
// every file of a data set together (load_dataset's zero_based=auto): read_libsvm_entries()
// keeps the indices as written, to_dense() maps index k to row k - 1 (one-based) or k
// (zero-based). Only an index 0 tells the numbering: a zero-based file whose first feature is
// never written looks exactly like a one-based one.
//
// Labels are kept as written (they must be integers, e.g. -1/+1 or 1..10) and num_classes is
// left at 0: call encode_labels() on train and test together to map them to 0..K-1. Errors are
// dsq::data_error naming the file and, for a malformed line, its line number.

/// How a file numbers its features.
enum class libsvm_indexing { one_based, zero_based };

/// A LIBSVM file as written: labels and sparse entries, indices not yet shifted.
struct libsvm_entries {
  /// One written feature: its index as in the file and its value.
  struct entry {
    std::int64_t index;
    float value;
  };
  std::vector<std::int32_t> labels;
  std::vector<entry> entries;
  std::vector<std::size_t> sample_start; ///< first entry of each sample
  std::int64_t max_index = -1;           ///< the largest index written (-1: none)
  std::size_t max_index_line = 0;        ///< the line of its first occurrence
  std::size_t zero_index_line = 0;       ///< the first line with index 0 (0: none)
};

/// Parses `file`; checks everything but what depends on the numbering and the dimension.
libsvm_entries read_libsvm_entries(const std::filesystem::path& file);

/// The dense data set of `entries` read from `file` (named in errors). `num_features` fixes the
/// dimension (an index beyond it is an error); with 0 the dimension is the largest index (+1 if
/// zero-based). An index 0 under one_based is an error that names zero_based=1.
dataset to_dense(const libsvm_entries& entries, libsvm_indexing indexing, Eigen::Index num_features,
                 const std::filesystem::path& file);

/// read_libsvm_entries() then to_dense(): one file whose numbering is known.
dataset read_libsvm(const std::filesystem::path& file, Eigen::Index num_features = 0,
                    libsvm_indexing indexing = libsvm_indexing::one_based);

} // namespace dsq
