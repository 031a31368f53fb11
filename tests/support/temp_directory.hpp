#pragma once

// A fresh directory for one test's files, removed with everything in it when the object goes
// out of scope. Tests run concurrently (ctest -j, several checkouts on one machine), so the name
// carries a tag, the process id and a counter; and a test must leave nothing behind in /tmp, so
// the directory goes even when the test fails or throws. DSQ_KEEP_TEST_DIRS (set to anything)
// keeps it, for a look at what a failed test wrote.

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <string_view>

#include <unistd.h>

/// A directory `<tmp>/dsq-<tag>-<pid>-<counter>`, removed with its contents at the end.
class temp_directory {
public:
  /// Creates the directory, emptied first in case a dead run with the same pid left it.
  explicit temp_directory(const std::string& tag = "test") {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("dsq-" + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  /// Removes the directory and everything in it; never throws.
  ~temp_directory() {
    if (std::getenv("DSQ_KEEP_TEST_DIRS") != nullptr) {
      std::cerr << "kept " << path_ << "\n";
      return;
    }
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  temp_directory(const temp_directory&) = delete;
  temp_directory& operator=(const temp_directory&) = delete;

  /// The directory.
  const std::filesystem::path& path() const { return path_; }

  /// Writes `content` byte for byte to the file `name` of this directory; returns its path.
  std::filesystem::path write(const std::string& name, std::string_view content) const {
    const auto file = path_ / name;
    std::ofstream out(file, std::ios::binary);
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
    return file;
  }

private:
  std::filesystem::path path_;
};
