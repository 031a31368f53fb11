#include "model/csv.hpp"

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

std::vector<std::string_view> split_fields(std::string_view line) {
  std::vector<std::string_view> fields;
  while (true) {
    const auto comma = line.find(',');
    fields.push_back(trim(line.substr(0, comma)));
    if (comma == std::string_view::npos)
      return fields;
    line.remove_prefix(comma + 1);
  }
}

std::size_t label_index(csv_label_column where, std::size_t columns) {
  return where == csv_label_column::first ? 0 : columns - 1;
}

} // namespace

dataset read_csv(const std::filesystem::path& file, csv_label_column label_column) {
  check_data_file(file);
  std::ifstream in(file);
  if (!in) {
    std::error_code ec;
    throw data_error(file, std::filesystem::exists(file, ec) ? "cannot open for reading"
                                                             : "file not found");
  }
  dataset data;
  std::vector<float> values; // row-major as read, which is one column per sample
  std::size_t columns = 0;
  bool first_line = true;
  std::string line;
  for (std::size_t line_number = 1; std::getline(in, line); ++line_number) {
    if (trim(line).empty())
      continue;
    const auto fields = split_fields(line);
    if (first_line) {
      first_line = false;
      columns = fields.size();
      if (columns < 2)
        throw data_error(file, fmt::format("line {}: need a label and at least one feature, "
                                           "found {} column",
                                           line_number, columns));
      // A label is always a number in data, and a name ("label", "class") in a header; the
      // other fields are not looked at, so a typo in the first sample is still reported.
      if (!parse_number<double>(fields[label_index(label_column, columns)]))
        continue;
    }
    if (fields.size() != columns)
      throw data_error(file, fmt::format("line {}: {} columns, expected {}", line_number,
                                         fields.size(), columns));
    const std::size_t label_at = label_index(label_column, columns);
    for (std::size_t c = 0; c < columns; ++c) {
      if (c == label_at) {
        const auto label = parse_number<std::int32_t>(fields[c]);
        if (!label)
          throw data_error(file, fmt::format("line {}, column {}: label '{}' is not an integer "
                                             "class",
                                             line_number, c + 1, fields[c]));
        data.labels.push_back(*label);
      } else {
        const auto value = parse_number<float>(fields[c]);
        if (!value)
          throw data_error(file, fmt::format("line {}, column {}: '{}' is not a number",
                                             line_number, c + 1, fields[c]));
        if (!std::isfinite(*value))
          throw data_error(file, fmt::format("line {}, column {}: '{}' is not finite", line_number,
                                             c + 1, fields[c]));
        values.push_back(*value);
      }
    }
  }
  if (in.bad())
    throw data_error(file, "read failed");
  if (data.labels.empty())
    throw data_error(file, "no samples");
  const auto d = static_cast<Eigen::Index>(columns - 1);
  data.features = Eigen::Map<const Eigen::MatrixXf>(values.data(), d,
                                                    static_cast<Eigen::Index>(data.labels.size()));
  return data;
}

} // namespace dsq
