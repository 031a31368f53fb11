#pragma once

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include <unistd.h>

// A fresh directory under the system's temporary directory, removed with everything in it when
// the object goes out of scope. Named after the process and a counter so that concurrent test
// runs do not collide.
class temp_directory {
public:
  temp_directory() {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("dsq-model-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::create_directories(path_);
  }
  ~temp_directory() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  temp_directory(const temp_directory&) = delete;
  temp_directory& operator=(const temp_directory&) = delete;

  const std::filesystem::path& path() const { return path_; }

  // Writes `content` to a file of this directory and returns its path.
  std::filesystem::path write(const std::string& name, std::string_view content) const {
    const auto file = path_ / name;
    std::ofstream out(file, std::ios::binary);
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
    return file;
  }

private:
  std::filesystem::path path_;
};
