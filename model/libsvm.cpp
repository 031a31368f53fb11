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

dataset read_libsvm(const std::filesystem::path& file, Eigen::Index num_features) {
  check_data_file(file);
  if (num_features > max_libsvm_features)
    throw data_error(file, fmt::format("features={} exceeds the limit of {} features", num_features,
                                       max_libsvm_features));
  std::ifstream in(file);
  if (!in) {
    std::error_code ec;
    throw data_error(file, std::filesystem::exists(file, ec) ? "cannot open for reading"
                                                             : "file not found");
  }
  struct entry {
    std::int64_t row;
    float value;
  };
  // The dimension is known only at the end: keep the sparse entries, then fill the matrix.
  std::vector<entry> entries;
  std::vector<std::size_t> sample_start;
  dataset data;
  std::int64_t max_index = 0;
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
    sample_start.push_back(entries.size());
    std::int64_t previous = 0;
    for (auto token = next_token(); !token.empty(); token = next_token()) {
      const auto colon = token.find(':');
      if (colon == std::string_view::npos)
        fail(fmt::format("'{}' is not index:value", token));
      const auto index = parse_number<std::int64_t>(token.substr(0, colon));
      if (!index || *index < 1)
        fail(fmt::format("feature index '{}' is not a positive integer (indices are 1-based)",
                         token.substr(0, colon)));
      // Each index is a row of a dense matrix: a huge one is a damaged file, not a data set.
      if (*index > max_libsvm_features)
        fail(fmt::format("feature index {} exceeds the limit of {} features", *index,
                         max_libsvm_features));
      if (*index <= previous)
        fail(fmt::format("feature index {} does not increase (after {})", *index, previous));
      if (num_features > 0 && *index > num_features)
        fail(fmt::format("feature index {} exceeds the {} features asked for", *index,
                         num_features));
      const auto value = parse_number<float>(token.substr(colon + 1));
      if (!value)
        fail(fmt::format("value '{}' of feature {} is not a number", token.substr(colon + 1),
                         *index));
      if (!std::isfinite(*value))
        fail(
            fmt::format("value '{}' of feature {} is not finite", token.substr(colon + 1), *index));
      previous = *index;
      max_index = std::max(max_index, *index);
      entries.push_back({*index - 1, *value});
    }
  }
  if (in.bad())
    throw data_error(file, "read failed");
  if (data.labels.empty())
    throw data_error(file, "no samples");

  const auto rows = num_features > 0 ? num_features : static_cast<Eigen::Index>(max_index);
  if (static_cast<std::uint64_t>(rows) * data.labels.size() > max_dense_values)
    throw data_error(file, fmt::format("{} features x {} samples is more than the limit of {} "
                                       "values held in memory",
                                       rows, data.labels.size(), max_dense_values));
  data.features = Eigen::MatrixXf::Zero(rows, static_cast<Eigen::Index>(data.labels.size()));
  sample_start.push_back(entries.size());
  for (std::size_t s = 0; s + 1 < sample_start.size(); ++s)
    for (auto k = sample_start[s]; k < sample_start[s + 1]; ++k)
      data.features(entries[k].row, static_cast<Eigen::Index>(s)) = entries[k].value;
  return data;
}

} // namespace dsq
