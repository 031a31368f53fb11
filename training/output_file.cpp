#include "training/output_file.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <utility>

#include <fcntl.h>
#include <unistd.h>

namespace dsq {

std::string write_error(const std::string& what, const std::filesystem::path& path, int error) {
  return fmt::format("cannot write {} '{}': {}", what, path.string(), std::strerror(error));
}

output_file::output_file(std::filesystem::path path, mode how, std::string what)
    : path_(std::move(path)), what_(std::move(what)) {
  const int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (how == mode::append ? O_APPEND : O_TRUNC);
  fd_ = ::open(path_.c_str(), flags, 0644);
  if (fd_ < 0)
    fail(errno);
}

output_file::output_file(output_file&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), path_(std::move(other.path_)),
      what_(std::move(other.what_)) {}

output_file& output_file::operator=(output_file&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    path_ = std::move(other.path_);
    what_ = std::move(other.what_);
  }
  return *this;
}

output_file::~output_file() {
  if (fd_ >= 0)
    ::close(fd_);
}

void output_file::fail(int error) const {
  throw std::runtime_error(write_error(what_, path_, error));
}

void output_file::write(std::string_view bytes) {
  if (fd_ < 0)
    fail(EBADF);
  while (!bytes.empty()) {
    const auto n = ::write(fd_, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR)
        continue;
      fail(errno);
    }
    if (n == 0) // write(2) of a regular file makes progress or fails; never spin
      fail(EIO);
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

void output_file::sync() {
  if (fd_ < 0)
    fail(EBADF);
  // Character devices and pipes cannot be synced (EINVAL): there is nothing more to make sure of.
  if (::fsync(fd_) != 0 && errno != EINVAL)
    fail(errno);
}

void output_file::close() {
  if (fd_ < 0)
    return;
  const int fd = std::exchange(fd_, -1);
  if (::close(fd) != 0 && errno != EINTR)
    fail(errno);
}

namespace {

// A rename is durable only once the directory entry is on disk.
void sync_directory(const std::filesystem::path& dir, const std::string& what) {
  const int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    throw std::runtime_error(write_error(what + " directory", dir, errno));
  const int rc = ::fsync(fd);
  const int error = errno;
  ::close(fd);
  if (rc != 0 && error != EINVAL)
    throw std::runtime_error(write_error(what + " directory", dir, error));
}

} // namespace

void write_file_atomically(const std::filesystem::path& path, std::string_view bytes,
                           const std::string& what) {
  // A device or a fifo (--summary=/dev/stdout) is written in place: renaming a file over it
  // would replace the device node itself.
  std::error_code status_error;
  const auto status = std::filesystem::status(path, status_error);
  if (std::filesystem::exists(status) && !std::filesystem::is_regular_file(status)) {
    output_file out{path, output_file::mode::truncate, what};
    out.write(bytes);
    out.sync();
    out.close();
    return;
  }
  auto tmp = path;
  tmp += ".tmp";
  try {
    output_file out{tmp, output_file::mode::truncate, what};
    out.write(bytes);
    out.sync();
    out.close();
  } catch (const std::runtime_error&) {
    std::error_code ec;
    std::filesystem::remove(tmp, ec); // a half-written file must not be mistaken for output
    throw;
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int error = errno;
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    throw std::runtime_error(write_error(what, path, error));
  }
  sync_directory(path.parent_path(), what);
}

} // namespace dsq
