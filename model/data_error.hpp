#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>

namespace dsq {

// A data file that cannot be used as it is: missing, malformed or inconsistent. The message
// always starts with the file so that a user can tell which of several inputs is at fault.
class data_error : public std::runtime_error {
public:
  data_error(const std::filesystem::path& file, const std::string& problem)
      : std::runtime_error(file.string() + ": " + problem), file_(file) {}

  // For problems that concern no single file (for example two files that disagree).
  explicit data_error(const std::string& problem) : std::runtime_error(problem) {}

  // Empty when the problem concerns no single file.
  const std::filesystem::path& file() const noexcept { return file_; }

private:
  std::filesystem::path file_;
};

} // namespace dsq
