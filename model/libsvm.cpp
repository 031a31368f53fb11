#include "model/libsvm.hpp"

#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "base/parse_number.hpp"
#include "base/trim.hpp"
#include "model/data_error.hpp"
#include "model/data_file.hpp"

namespace dsq {

namespace {

void check_feature_limit(Eigen::Index num_features, const std::filesystem::path& file) {
  if (num_features > max_libsvm_features)
    throw data_error(file, fmt::format("features={} exceeds the limit of {} features", num_features,
                                       max_libsvm_features));
}

} // namespace

libsvm_entries read_libsvm_entries(const std::filesystem::path& file) {
  check_data_file(file);
  std::ifstream in(file);
  if (!in) {
    std::error_code ec;
    throw data_error(file, std::filesystem::exists(file, ec) ? "cannot open for reading"
                                                             : "file not found");
  }
  // The dimension is known only at the end: keep the sparse entries, then fill the matrix.
  libsvm_entries data;
  std::string line;
  for (std::size_t line_number = 1; std::getline(in, line); ++line_number) {
    std::string_view rest = line;
    if (auto hash = rest.find('#'); hash != std::string_view::npos)
      rest = rest.substr(0, hash);
    rest = trim(rest);
    if (rest.empty())
      continue;
    auto fail = [&](const std::string& problem) {
      throw data_error(file, fmt::format("line {}: {}", line_number, problem));
    };
    auto next_token = [&rest]() {
      auto start = rest.find_first_not_of(" \t");
      if (start == std::string_view::npos)
        return std::string_view{};
      rest.remove_prefix(start);
      auto end = rest.find_first_of(" \t");
      auto token = rest.substr(0, end);
      rest.remove_prefix(token.size());
      return token;
    };
    const auto label_token = next_token();
    const auto label = parse_number<std::int32_t>(label_token);
    if (!label)
      fail(fmt::format("label '{}' is not an integer class", label_token));
    data.labels.push_back(*label);
    data.sample_start.push_back(data.entries.size());
    std::int64_t previous = -1;
    for (auto token = next_token(); !token.empty(); token = next_token()) {
      const auto colon = token.find(':');
      if (colon == std::string_view::npos)
        fail(fmt::format("'{}' is not index:value", token));
      const auto index = parse_number<std::int64_t>(token.substr(0, colon));
      if (!index || *index < 0)
        fail(fmt::format("feature index '{}' is not a non-negative integer",
                         token.substr(0, colon)));
      // Each index is a row of a dense matrix: a huge one is a damaged file, not a data set.
      if (*index > max_libsvm_features)
        fail(fmt::format("feature index {} exceeds the limit of {} features", *index,
                         max_libsvm_features));
      if (*index <= previous)
        fail(fmt::format("feature index {} does not increase (after {})", *index, previous));
      const auto value = parse_number<float>(token.substr(colon + 1));
      if (!value)
        fail(fmt::format("value '{}' of feature {} is not a number", token.substr(colon + 1),
                         *index));
      if (!std::isfinite(*value))
        fail(
            fmt::format("value '{}' of feature {} is not finite", token.substr(colon + 1), *index));
      previous = *index;
      if (*index > data.max_index) {
        data.max_index = *index;
        data.max_index_line = line_number;
      }
      if (*index == 0 && data.zero_index_line == 0)
        data.zero_index_line = line_number;
      data.entries.push_back({*index, *value});
    }
  }
  if (in.bad())
    throw data_error(file, "read failed");
  if (data.labels.empty())
    throw data_error(file, "no samples");
  return data;
}

dataset to_dense(const libsvm_entries& entries, libsvm_indexing indexing, Eigen::Index num_features,
                 const std::filesystem::path& file) {
  check_feature_limit(num_features, file);
  const bool zero_based = indexing == libsvm_indexing::zero_based;
  if (!zero_based && entries.zero_index_line != 0)
    throw data_error(file, fmt::format("line {}: feature index 0 in a file read as 1-based "
                                       "(LIBSVM's convention); zero_based=1 or zero_based=auto "
                                       "reads indices from 0",
                                       entries.zero_index_line));
  // Rows needed: the largest index, plus one when numbering starts at 0.
  const auto needed = static_cast<Eigen::Index>(entries.max_index + (zero_based ? 1 : 0));
  if (num_features > 0 && needed > num_features)
    throw data_error(file, fmt::format("line {}: feature index {} exceeds the {} features asked "
                                       "for{}",
                                       entries.max_index_line, entries.max_index, num_features,
                                       zero_based ? " (indices from 0)" : ""));
  const auto rows = num_features > 0 ? num_features : std::max<Eigen::Index>(needed, 0);
  const auto samples = entries.labels.size();
  if (static_cast<std::uint64_t>(rows) * samples > max_dense_values)
    throw data_error(file, fmt::format("{} features x {} samples is more than the limit of {} "
                                       "values held in memory",
                                       rows, samples, max_dense_values));
  dataset data;
  data.labels = entries.labels;
  data.features = Eigen::MatrixXf::Zero(rows, static_cast<Eigen::Index>(samples));
  const auto shift = zero_based ? 0 : 1;
  for (std::size_t s = 0; s < samples; ++s) {
    const auto end = s + 1 < samples ? entries.sample_start[s + 1] : entries.entries.size();
    for (auto k = entries.sample_start[s]; k < end; ++k)
      data.features(entries.entries[k].index - shift, static_cast<Eigen::Index>(s)) =
          entries.entries[k].value;
  }
  return data;
}

dataset read_libsvm(const std::filesystem::path& file, Eigen::Index num_features,
                    libsvm_indexing indexing) {
  check_feature_limit(num_features, file);
  return to_dense(read_libsvm_entries(file), indexing, num_features, file);
}

} // namespace dsq
