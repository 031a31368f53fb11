#pragma once

// A 64 KiB tmpfs mounted for one test, to make "the disk is full" happen for real. Mounting
// needs root (CAP_SYS_ADMIN); elsewhere `mounted()` is false and the test says it skipped.

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include <sys/mount.h>
#include <unistd.h>

class small_tmpfs {
public:
  small_tmpfs() {
    static int counter = 0;
    path_ = std::filesystem::temp_directory_path() /
            ("dsq-tmpfs-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::create_directories(path_);
    if (::mount("tmpfs", path_.c_str(), "tmpfs", 0, "size=64k") == 0)
      mounted_ = true;
    else
      why_not_ = std::strerror(errno);
  }
  ~small_tmpfs() {
    if (mounted_)
      ::umount2(path_.c_str(), MNT_DETACH);
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  small_tmpfs(const small_tmpfs&) = delete;
  small_tmpfs& operator=(const small_tmpfs&) = delete;

  bool mounted() const { return mounted_; }
  /// Why the mount failed, for the skip message.
  const std::string& why_not() const { return why_not_; }
  const std::filesystem::path& path() const { return path_; }

  /// Fills every free block with a ballast file but `free_blocks` of 4 KiB; writes that need
  /// more blocks than that fail (ENOSPC).
  void fill(std::uintmax_t free_blocks = 0) const {
    const auto ballast = path_ / "ballast";
    {
      std::ofstream out{ballast, std::ios::binary};
      const std::string block(4096, 'x');
      for (int i = 0; i < 64 && out.write(block.data(), block.size()); ++i)
        out.flush();
    }
    std::error_code ec;
    const auto size = std::filesystem::file_size(ballast, ec);
    const auto keep = size > 4096 * free_blocks ? size - 4096 * free_blocks : 0;
    std::filesystem::resize_file(ballast, keep - keep % 4096, ec);
  }

private:
  std::filesystem::path path_;
  bool mounted_ = false;
  std::string why_not_;
};
