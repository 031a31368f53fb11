#include "model/csv.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "base/parse_number.hpp"
#include "base/trim.hpp"
#include "model/data_error.hpp"
#include "model/data_file.hpp"

namespace dsq {

namespace {

// Header names that mark the label column when label= is not given, the most telling first:
// "x,y,label" has its label in the last column, not in y.
constexpr std::array<std::string_view, 5> label_names{"label", "labels", "target", "class", "y"};

constexpr const char* label_fix = "label=first, label=last or label=name:COLUMN (a header name) "
                                  "says which column holds the label";

char separator_char(csv_separator separator) {
  switch (separator) {
  case csv_separator::semicolon:
    return ';';
  case csv_separator::tab:
    return '\t';
  default:
    return ',';
  }
}

csv_separator detect_separator(std::string_view line) {
  if (line.find('\t') != std::string_view::npos)
    return csv_separator::tab;
  if (line.find(';') != std::string_view::npos)
    return csv_separator::semicolon;
  return csv_separator::comma;
}

std::string_view unquote(std::string_view field) {
  if (field.size() >= 2 && field.front() == '"' && field.back() == '"')
    return trim(field.substr(1, field.size() - 2));
  return field;
}

std::vector<std::string_view> split_fields(std::string_view line, char separator) {
  std::vector<std::string_view> fields;
  while (true) {
    const auto at = line.find(separator);
    fields.push_back(unquote(trim(line.substr(0, at))));
    if (at == std::string_view::npos)
      return fields;
    line.remove_prefix(at + 1);
  }
}

bool is_number(std::string_view field) {
  return parse_number<double>(field).value.has_value();
}

// A value that can be a class: a whole number, or a name (not a number at all, not empty).
bool is_class(std::string_view field) {
  return parse_number<std::int32_t>(field).value.has_value() ||
         (!field.empty() && !is_number(field));
}

bool equal_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// The first two non-blank lines, with their numbers: enough to decide separator, header and
// label column before the file is read.
struct first_lines {
  std::string first, second;
  std::size_t first_number = 0, second_number = 0;
};

// Spreadsheets often start a UTF-8 file with a byte order mark: it is not part of the first field.
void drop_byte_order_mark(std::string& line, std::size_t line_number) {
  if (line_number == 1 && line.starts_with("\xEF\xBB\xBF"))
    line.erase(0, 3);
}

first_lines read_first_lines(const std::filesystem::path& file) {
  std::ifstream in(file);
  first_lines lines;
  std::string line;
  for (std::size_t number = 1; std::getline(in, line); ++number) {
    drop_byte_order_mark(line, number);
    if (trim(line).empty())
      continue;
    if (lines.first_number == 0) {
      lines.first = line;
      lines.first_number = number;
    } else {
      lines.second = line;
      lines.second_number = number;
      break;
    }
  }
  return lines;
}

// The header rule when the label column is known: a label field that is not a number, on a
// line whose other fields are not all numbers or followed by a line whose label field is one.
bool is_header_for_column(const std::vector<std::string_view>& first,
                          const std::vector<std::string_view>& second, std::size_t column) {
  if (is_number(first[column]))
    return false;
  if (second.size() > column && is_number(second[column]))
    return true;
  for (std::size_t c = 0; c < first.size(); ++c)
    if (c != column && !is_number(first[c]))
      return true;
  return false;
}

struct label_choice {
  std::size_t column = 0;
  bool header = false;
  bool by_name = false;
};

label_choice choose_label(const std::filesystem::path& file, const csv_label& label,
                          const first_lines& lines, const std::vector<std::string_view>& first,
                          const std::vector<std::string_view>& second) {
  const auto columns = first.size();
  auto fail = [&](const std::string& problem) {
    throw data_error(file, fmt::format("line {}: {}", lines.first_number, problem));
  };
  auto with_known_column = [&](std::size_t column) {
    if (column >= columns)
      fail(fmt::format("{} columns, but the label is in column {} of the training file", columns,
                       column + 1));
    return label_choice{column, is_header_for_column(first, second, column), false};
  };
  switch (label.how) {
  case csv_label::rule::first:
    return with_known_column(0);
  case csv_label::rule::last:
    return with_known_column(columns - 1);
  case csv_label::rule::column:
    return with_known_column(label.column);
  case csv_label::rule::named: {
    for (std::size_t c = 0; c < columns; ++c)
      if (equal_ignoring_case(first[c], label.name))
        return {c, true, true};
    std::string names;
    for (auto field : first)
      names += fmt::format("{}'{}'", names.empty() ? "" : ", ", field);
    fail(fmt::format("no column named '{}' (label=name:{}) in the first line, which holds {}",
                     label.name, label.name, names));
  }
  case csv_label::rule::automatic:
    break;
  }
  for (auto name : label_names) {
    std::vector<std::size_t> named;
    for (std::size_t c = 0; c < columns; ++c)
      if (equal_ignoring_case(first[c], name))
        named.push_back(c);
    if (named.size() == 1)
      return {named.front(), true, true};
    if (named.size() > 1)
      fail(fmt::format("columns {} and {} are both called '{}': label=first, label=last or "
                       "another header name (label=name:COLUMN) says which holds the label",
                       named[0] + 1, named[1] + 1, first[named[0]]));
  }
  const bool header = std::none_of(first.begin(), first.end(), is_number);
  const auto& sample = header ? second : first;
  if (sample.empty())
    throw data_error(file, "no samples");
  const auto sample_line = header ? lines.second_number : lines.first_number;
  if (sample.size() != columns)
    throw data_error(
        file, fmt::format("line {}: {} columns, expected {}", sample_line, sample.size(), columns));
  if (is_class(sample.front()))
    return {0, header, false};
  if (is_class(sample.back()))
    return {columns - 1, header, false};
  throw data_error(file, fmt::format("line {}: cannot tell which column is the label: neither "
                                     "the first value '{}' nor the last '{}' is a class (a "
                                     "whole number or a name), and no header column is called "
                                     "label, target, class or y; {}",
                                     sample_line, sample.front(), sample.back(), label_fix));
}

} // namespace

csv_separator parse_csv_separator(std::string_view name) {
  if (name == "auto")
    return csv_separator::automatic;
  if (name == "comma")
    return csv_separator::comma;
  if (name == "semicolon")
    return csv_separator::semicolon;
  if (name == "tab")
    return csv_separator::tab;
  throw std::invalid_argument("sep must be auto, comma, semicolon or tab, not '" +
                              std::string(name) + "'");
}

const char* separator_name(csv_separator separator) {
  switch (separator) {
  case csv_separator::automatic:
    return "auto";
  case csv_separator::comma:
    return "comma";
  case csv_separator::semicolon:
    return "semicolon";
  case csv_separator::tab:
    return "tab";
  }
  return "?";
}

csv_file read_csv_file(const std::filesystem::path& file, const csv_options& options) {
  check_data_file(file);
  std::ifstream in(file);
  if (!in) {
    std::error_code ec;
    throw data_error(file, std::filesystem::exists(file, ec) ? "cannot open for reading"
                                                             : "file not found");
  }
  const auto lines = read_first_lines(file);
  if (lines.first_number == 0)
    throw data_error(file, "no samples");

  csv_file result;
  result.separator = options.separator == csv_separator::automatic ? detect_separator(lines.first)
                                                                   : options.separator;
  const char separator = separator_char(result.separator);
  const auto first = split_fields(lines.first, separator);
  const auto second = lines.second_number == 0 ? std::vector<std::string_view>{}
                                               : split_fields(lines.second, separator);
  result.columns = first.size();
  if (result.columns < 2)
    throw data_error(
        file, fmt::format("line {}: need a label and at least one feature, found 1 column {}",
                          lines.first_number,
                          options.separator == csv_separator::automatic
                              ? "(no tab, semicolon or comma in it; sep=comma, sep=semicolon or "
                                "sep=tab sets the separator)"
                              : fmt::format("with sep={} (sep=auto detects the separator)",
                                            separator_name(result.separator))));
  const auto choice = choose_label(file, options.label, lines, first, second);
  result.label_column = choice.column;
  result.label_by_name = choice.by_name;
  if (choice.header)
    result.label_header = std::string(first[choice.column]);

  std::vector<float> values; // row-major as read, which is one column per sample
  std::string line;
  bool header_pending = choice.header;
  for (std::size_t line_number = 1; std::getline(in, line); ++line_number) {
    drop_byte_order_mark(line, line_number);
    if (trim(line).empty())
      continue;
    if (header_pending) {
      header_pending = false;
      continue;
    }
    const auto fields = split_fields(line, separator);
    if (fields.size() != result.columns)
      throw data_error(file, fmt::format("line {}: {} columns, expected {}", line_number,
                                         fields.size(), result.columns));
    for (std::size_t c = 0; c < result.columns; ++c) {
      if (c == result.label_column) {
        if (!is_class(fields[c]))
          throw data_error(file, fmt::format("line {}, column {}: label '{}' is neither an "
                                             "integer class nor a name; {}",
                                             line_number, c + 1, fields[c], label_fix));
        result.labels.add(fields[c]);
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
  const auto samples = result.labels.of_sample().size();
  if (samples == 0)
    throw data_error(file, "no samples");
  const auto d = static_cast<Eigen::Index>(result.columns - 1);
  result.data.features =
      Eigen::Map<const Eigen::MatrixXf>(values.data(), d, static_cast<Eigen::Index>(samples));
  return result;
}

dataset read_csv(const std::filesystem::path& file, csv_label_column label_column) {
  csv_options options;
  options.label.how =
      label_column == csv_label_column::first ? csv_label::rule::first : csv_label::rule::last;
  auto read = read_csv_file(file, options);
  const auto classes = encode_written_labels({{read.labels, read.data}});
  if (classes.numeric) // back to the numbers as written
    for (auto& label : read.data.labels)
      label = *parse_number<std::int32_t>(classes.names[static_cast<std::size_t>(label)]);
  read.data.num_classes = 0;
  return std::move(read.data);
}

} // namespace dsq
