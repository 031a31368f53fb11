#pragma once

// A file that a run writes (metrics, summary, checkpoint), written through a POSIX descriptor
// so that every step can be checked: a full disk, an I/O error or a failed rename is a
// std::runtime_error that names the file and the operating system's reason, never a silent loss.

#include <filesystem>
#include <string>
#include <string_view>

namespace dsq {

/// An open file whose every write, sync and close is checked.
class output_file {
public:
  /// How an existing file is treated on opening.
  enum class mode { truncate, append };

  output_file() = default;
  /// Opens (creating if needed) `path`; `what` names it in errors ("metrics file").
  output_file(std::filesystem::path path, mode how, std::string what);
  output_file(output_file&& other) noexcept;
  output_file& operator=(output_file&& other) noexcept;
  output_file(const output_file&) = delete;
  output_file& operator=(const output_file&) = delete;
  /// Closes without reporting: call close() to learn whether the last bytes reached the disk.
  ~output_file();

  /// Writes all of `bytes`, retrying short writes. Throws std::runtime_error on failure.
  void write(std::string_view bytes);
  /// Asks the OS to put the bytes on the disk (fsync). Throws std::runtime_error on failure.
  void sync();
  /// Closes the descriptor. Throws std::runtime_error on failure (NFS reports errors here).
  void close();

  bool is_open() const { return fd_ >= 0; }
  const std::filesystem::path& path() const { return path_; }

private:
  [[noreturn]] void fail(int error) const;

  int fd_ = -1;
  std::filesystem::path path_;
  std::string what_;
};

/// "cannot write <what> '<path>': <reason of errno `error`>", the wording of every write error.
std::string write_error(const std::string& what, const std::filesystem::path& path, int error);

/// Replaces `path` by `bytes` atomically: written to `path`.tmp, synced, renamed over `path`,
/// and the directory synced, so that a crash leaves either the old or the new file, never a mix.
/// A `path` that is a device or a fifo is written in place.
/// Throws std::runtime_error naming `what`, the file and the reason; removes the temporary file.
void write_file_atomically(const std::filesystem::path& path, std::string_view bytes,
                           const std::string& what);

} // namespace dsq
