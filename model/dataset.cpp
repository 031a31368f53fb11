#include "model/dataset.hpp"

#include <stdexcept>

#include <fmt/format.h>

namespace dsq {

dataset subset(const dataset& data, std::span<const std::size_t> indices) {
  dataset out;
  out.num_classes = data.num_classes;
  out.features.resize(data.dimension(), static_cast<Eigen::Index>(indices.size()));
  out.labels.resize(indices.size());
  for (std::size_t j = 0; j < indices.size(); ++j) {
    const auto i = indices[j];
    if (i >= data.size())
      throw std::out_of_range(fmt::format(
          "subset: index {} out of range for a data set of {} samples", i, data.size()));
    out.features.col(static_cast<Eigen::Index>(j)) =
        data.features.col(static_cast<Eigen::Index>(i));
    out.labels[j] = data.labels[i];
  }
  return out;
}

void check_consistent(const dataset& data, const std::string& what) {
  if (static_cast<std::size_t>(data.features.cols()) != data.labels.size())
    throw std::invalid_argument(fmt::format("{}: {} feature columns but {} labels", what,
                                            data.features.cols(), data.labels.size()));
  for (std::size_t i = 0; i < data.labels.size(); ++i)
    if (data.labels[i] < 0 || data.labels[i] >= data.num_classes)
      throw std::invalid_argument(fmt::format("{}: label {} of sample {} is outside [0, {})", what,
                                              data.labels[i], i, data.num_classes));
}

} // namespace dsq
