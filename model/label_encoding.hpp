#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "model/dataset.hpp"

namespace dsq {

// Text formats store classes as arbitrary integers (-1/+1, 1..10, ...). This maps the values
// found to 0..K-1 in increasing order and sets num_classes = K. Train and test must share one
// mapping, or class 0 of one would be another class in the other: hence the two-set overload.
// Returns the original value of each class (index = new label).
std::vector<std::int32_t> encode_labels(dataset& data);
std::vector<std::int32_t> encode_labels(dataset& train, dataset& test);

/// Class labels of a text file as written, numbers or names ("setosa"): each distinct spelling
/// once, and for each sample the index of its spelling.
class written_labels {
public:
  /// Appends the label of the next sample.
  void add(std::string_view spelling);

  /// The distinct spellings, in order of first appearance.
  const std::vector<std::string>& spellings() const { return spellings_; }
  /// For each sample, the index of its spelling.
  const std::vector<std::uint32_t>& of_sample() const { return of_sample_; }

private:
  std::vector<std::string> spellings_;
  std::vector<std::uint32_t> of_sample_;
  std::unordered_map<std::string, std::uint32_t> index_;
};

/// A part of a data set and the labels written for it.
struct labelled_part {
  const written_labels& written;
  dataset& data;
};

/// What the classes 0..K-1 were called in the files.
struct class_names {
  bool numeric = true;            ///< every label was a whole number
  std::vector<std::string> names; ///< names[k]: the label of class k as written ("3", "setosa")
};

/// Sets labels (0..K-1) and num_classes of every part from its written labels, with one mapping
/// for all parts. If every label is a whole number ("3", "+1", "2.0"), classes follow the
/// numbers' increasing order (as encode_labels()); otherwise every label is a name and classes
/// follow the names' byte order ("10" < "2" < "cat"), so the mapping depends only on the set of
/// names, never on the order of the samples.
class_names encode_written_labels(std::initializer_list<labelled_part> parts);

} // namespace dsq
