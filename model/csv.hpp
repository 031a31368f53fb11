#pragma once

#include <cstddef>
#include <filesystem>
#include <string>

#include "model/dataset.hpp"
#include "model/label_encoding.hpp"

namespace dsq {

// Reads delimited text, one sample per line: numeric features and one class label, a number or
// a name ("setosa"). Blank lines and a UTF-8 byte order mark are skipped; a field may be enclosed
// in double quotes, but a quoted field may not hold the separator (the format is meant for numeric
// exports).
//
// What can be told from the file is detected (csv_options::separator and label automatic):
// - the separator, from the first non-blank line: a tab if it holds one, else a semicolon if it
//   holds one, else a comma;
// - the label column: a header column named label, labels, target, class or y (case ignored;
//   the first name of this list that occurs wins, so "x,y,label" is labelled by "label"); without
//   one, the first column if its first value is a class (a whole number or a name),
//   else the last column if its first value is one; else an error that names label=;
// - the header: the first line is one if it names the label column, or if none of its fields is
//   a number (automatic label), or, with the label column known, if its label field is not a
//   number while the next line's is (or one of its other fields is not a number either). So a
//   typo in the first sample is reported, not taken for a header.
// Errors are dsq::data_error naming the file, and for a bad value or a wrong number of columns
// the line and column, and the option that fixes what could not be detected (sep=, label=).

/// What separates the columns.
enum class csv_separator { automatic, comma, semicolon, tab };

/// "auto", "comma", "semicolon" or "tab" (what sep= takes); throws std::invalid_argument.
csv_separator parse_csv_separator(std::string_view name);

/// Where the label is.
struct csv_label {
  enum class rule {
    automatic, ///< by header name, else the first or last column (see above)
    first,
    last,
    named, ///< the header column called `name` (case ignored)
    column ///< the column `column` (0-based): how a test file follows its training file
  };
  rule how = rule::automatic;
  std::string name;
  std::size_t column = 0;
};

/// How to read a CSV file.
struct csv_options {
  csv_separator separator = csv_separator::automatic;
  csv_label label;
};

/// A CSV file as read: the features (labels left empty and num_classes 0: the written labels
/// become classes with encode_written_labels(), train and test together), and what was decided.
struct csv_file {
  dataset data;
  written_labels labels;
  csv_separator separator = csv_separator::comma; ///< the one used
  std::size_t columns = 0;                        ///< per line, the label's included
  std::size_t label_column = 0;                   ///< 0-based
  std::string label_header;   ///< the header's name of the label column; empty without a header
  bool label_by_name = false; ///< the label column was found by its header name
};

/// Reads `file` as described above.
csv_file read_csv_file(const std::filesystem::path& file, const csv_options& options = {});

/// Words for a separator in messages and descriptions: "comma", "tab", ...
const char* separator_name(csv_separator separator);

enum class csv_label_column { first, last };

/// read_csv_file() with the label in the first (or last) column and the separator detected.
/// Whole-number labels are kept as written, names become their index in byte order; num_classes
/// is left at 0: call encode_labels() on train and test together.
dataset read_csv(const std::filesystem::path& file,
                 csv_label_column label_column = csv_label_column::first);

} // namespace dsq
