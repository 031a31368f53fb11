#include "model/label_encoding.hpp"

#include <algorithm>

namespace dsq {

namespace {

std::vector<std::int32_t> encode(std::initializer_list<dataset*> sets) {
  std::vector<std::int32_t> values;
  for (auto* set : sets)
    values.insert(values.end(), set->labels.begin(), set->labels.end());
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
  for (auto* set : sets) {
    for (auto& label : set->labels)
      label = static_cast<std::int32_t>(std::lower_bound(values.begin(), values.end(), label) -
                                        values.begin());
    set->num_classes = static_cast<int>(values.size());
  }
  return values;
}

} // namespace

std::vector<std::int32_t> encode_labels(dataset& data) {
  return encode({&data});
}

std::vector<std::int32_t> encode_labels(dataset& train, dataset& test) {
  return encode({&train, &test});
}

} // namespace dsq
