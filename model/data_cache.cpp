#include "model/data_cache.hpp"

#include "model/data_identity.hpp"

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <stdexcept>
#include <unistd.h>

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/stat.h>

namespace dsq {

namespace {

// File layout (host-native byte order: the cache never leaves its host):
//   header (below), the description, then from `data_offset` on, each 64-byte aligned:
//   train features (rows x cols floats, column-major), test features, train labels (int32),
//   test labels.
constexpr std::array<char, 8> cache_magic = {'D', 'S', 'Q', 'C', 'A', 'C', 'H', '1'};

struct cache_header {
  std::array<char, 8> magic;
  std::uint64_t key;
  std::uint64_t rows, train_cols, test_cols, classes;
  std::uint64_t train_fingerprint, test_fingerprint;
  std::uint64_t description_bytes;
  std::uint64_t file_bytes;
};

constexpr std::uint64_t align64(std::uint64_t n) {
  return (n + 63) / 64 * 64;
}

struct layout {
  std::uint64_t train_features, test_features, train_labels, test_labels, end;
};

// Offsets of the parts; false if the sizes overflow or exceed what a data set may hold.
bool layout_of(const cache_header& h, layout& out) {
  constexpr std::uint64_t limit = std::uint64_t{1} << 40;
  if (h.rows > limit || h.train_cols > limit || h.test_cols > limit || h.description_bytes > 4096 ||
      h.rows * (h.train_cols + h.test_cols) > limit)
    return false;
  out.train_features = align64(sizeof(cache_header) + h.description_bytes);
  out.test_features = align64(out.train_features + 4 * h.rows * h.train_cols);
  out.train_labels = align64(out.test_features + 4 * h.rows * h.test_cols);
  out.test_labels = align64(out.train_labels + 4 * h.train_cols);
  out.end = out.test_labels + 4 * h.test_cols;
  return true;
}

/// One round of the word hash of data_identity.cpp (splitmix64's finaliser).
std::uint64_t mix(std::uint64_t h, std::uint64_t word) {
  h ^= word + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  return h ^ (h >> 31);
}

/// A read-only (copy-on-write) mapping of a whole file, unmapped with its last owner.
class mapping {
public:
  mapping(void* address, std::size_t bytes) : address_(address), bytes_(bytes) {}
  ~mapping() {
    if (address_ != nullptr) {
      forget_read_only_fingerprints(address_, bytes_);
      munmap(address_, bytes_);
    }
  }
  mapping(const mapping&) = delete;
  mapping& operator=(const mapping&) = delete;

  unsigned char* bytes() const { return static_cast<unsigned char*>(address_); }
  std::size_t size() const { return bytes_; }

private:
  void* address_;
  std::size_t bytes_;
};

/// The file mapped whole and read-only, or null with `problem` set. Populated at once (one call
/// instead of a fault per page), which for pages already in the page cache takes milliseconds;
/// a writable private mapping would copy every page instead (a write fault each).
std::shared_ptr<mapping> map_file(const std::filesystem::path& file, std::string& problem) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    problem = std::strerror(errno);
    return nullptr;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    problem = "not a regular file";
    ::close(fd);
    return nullptr;
  }
  const auto bytes = static_cast<std::size_t>(st.st_size);
  if (bytes == 0) {
    ::close(fd);
    return std::make_shared<mapping>(nullptr, 0);
  }
  void* address = ::mmap(nullptr, bytes, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, 0);
  ::close(fd);
  if (address == MAP_FAILED) {
    problem = std::string{"cannot map: "} + std::strerror(errno);
    return nullptr;
  }
  return std::make_shared<mapping>(address, bytes);
}

/// The cache key of `sources`: each one's absolute path, device, inode, size and modification
/// time, which change when a file is replaced or rewritten (hashing their bytes instead would
/// cost a pass over 55 MB in every process). A missing source gives nullopt (the parser then
/// names the problem).
std::optional<std::uint64_t> source_key(std::string_view kind,
                                        std::span<const std::filesystem::path> sources) {
  std::uint64_t h = mix(0, std::hash<std::string_view>{}(kind));
  h = mix(h, sizeof(cache_header));     // a new layout is a new key
  h = mix(h, data_fingerprint_version); // and so is a new fingerprint definition
  for (const auto& source : sources) {
    struct stat st {};
    if (::stat(source.c_str(), &st) != 0 || !S_ISREG(st.st_mode))
      return std::nullopt;
    std::error_code ec;
    const auto absolute = std::filesystem::absolute(source, ec).lexically_normal().string();
    h = mix(h, std::hash<std::string>{}(absolute));
    for (const auto word :
         {static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino),
          static_cast<std::uint64_t>(st.st_size), static_cast<std::uint64_t>(st.st_mtim.tv_sec),
          static_cast<std::uint64_t>(st.st_mtim.tv_nsec)})
      h = mix(h, word);
  }
  return h;
}

/// The data of a cache file that passes every check, else nullopt with `problem` set.
std::optional<train_test> read_cache(const std::filesystem::path& file, std::uint64_t key,
                                     std::string& problem) {
  auto map = map_file(file, problem);
  if (!map)
    return std::nullopt;
  cache_header h{};
  if (map->size() < sizeof h) {
    problem = fmt::format("truncated: {} bytes, shorter than its header", map->size());
    return std::nullopt;
  }
  std::memcpy(&h, map->bytes(), sizeof h);
  layout at{};
  if (h.magic != cache_magic || h.key != key || !layout_of(h, at) || h.classes == 0 ||
      h.classes > 1u << 20) {
    problem = "bad header";
    return std::nullopt;
  }
  if (h.file_bytes != at.end || map->size() != at.end) {
    problem = fmt::format("{} bytes where its header implies {}", map->size(), at.end);
    return std::nullopt;
  }
  train_test data;
  data.description.assign(reinterpret_cast<const char*>(map->bytes()) + sizeof h,
                          h.description_bytes);
  auto* base = map->bytes();
  const auto rows = static_cast<Eigen::Index>(h.rows);
  data.train.features =
      feature_matrix::view(map, reinterpret_cast<float*>(base + at.train_features), rows,
                           static_cast<Eigen::Index>(h.train_cols));
  data.test.features = feature_matrix::view(map, reinterpret_cast<float*>(base + at.test_features),
                                            rows, static_cast<Eigen::Index>(h.test_cols));
  for (auto [part, offset, count] : {std::tuple{&data.train, at.train_labels, h.train_cols},
                                     std::tuple{&data.test, at.test_labels, h.test_cols}}) {
    part->labels.resize(count);
    std::memcpy(part->labels.data(), base + offset, 4 * count);
    part->num_classes = static_cast<int>(h.classes);
    for (auto label : part->labels)
      if (label < 0 || static_cast<std::uint64_t>(label) >= h.classes) {
        problem = fmt::format("label {} outside [0, {})", label, h.classes);
        return std::nullopt;
      }
  }
  // The fingerprints cover every value and label: a flipped bit anywhere fails here. The
  // mapping is read-only, so the features' hash is kept for the data's identity (one pass).
  if (remember_read_only_fingerprint(data.train) != h.train_fingerprint ||
      remember_read_only_fingerprint(data.test) != h.test_fingerprint) {
    problem = "its content does not match its fingerprints";
    return std::nullopt;
  }
  return data;
}

void write_all(int fd, const void* data, std::size_t bytes, std::uint64_t offset) {
  const auto* p = static_cast<const char*>(data);
  while (bytes > 0) {
    const auto written = ::pwrite(fd, p, bytes, static_cast<off_t>(offset));
    if (written < 0) {
      if (errno == EINTR)
        continue;
      throw std::runtime_error(std::strerror(errno));
    }
    p += written;
    bytes -= static_cast<std::size_t>(written);
    offset += static_cast<std::uint64_t>(written);
  }
}

/// Writes `data` as the cache file `file`: into a temporary file of the same directory, then
/// renamed over it, so that a reader sees no file or a whole one. Throws std::runtime_error.
void write_cache(const std::filesystem::path& file, std::uint64_t key, const train_test& data) {
  if (data.train.dimension() != data.test.dimension() ||
      data.train.num_classes != data.test.num_classes)
    throw std::runtime_error("train and test parts differ in shape");
  cache_header h{};
  h.magic = cache_magic;
  h.key = key;
  h.rows = static_cast<std::uint64_t>(data.train.dimension());
  h.train_cols = data.train.size();
  h.test_cols = data.test.size();
  h.classes = static_cast<std::uint64_t>(data.train.num_classes);
  h.train_fingerprint = data_fingerprint(data.train);
  h.test_fingerprint = data_fingerprint(data.test);
  h.description_bytes = std::min<std::size_t>(data.description.size(), 4096);
  layout at{};
  if (!layout_of(h, at) || static_cast<std::uint64_t>(data.train.features.cols()) != h.train_cols ||
      static_cast<std::uint64_t>(data.test.features.cols()) != h.test_cols)
    throw std::runtime_error("the data set does not fit the cache's layout");
  h.file_bytes = at.end;

  std::error_code ec;
  std::filesystem::create_directories(file.parent_path(), ec);
  std::random_device entropy;
  const auto temporary =
      file.parent_path() /
      fmt::format(".{}.{}-{:08x}.tmp", file.filename().string(), ::getpid(), entropy());
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0)
    throw std::runtime_error(
        fmt::format("cannot create {}: {}", temporary.string(), std::strerror(errno)));
  try {
    write_all(fd, &h, sizeof h, 0);
    write_all(fd, data.description.data(), h.description_bytes, sizeof h);
    write_all(fd, data.train.features.data(), 4 * h.rows * h.train_cols, at.train_features);
    write_all(fd, data.test.features.data(), 4 * h.rows * h.test_cols, at.test_features);
    write_all(fd, data.train.labels.data(), 4 * h.train_cols, at.train_labels);
    write_all(fd, data.test.labels.data(), 4 * h.test_cols, at.test_labels);
    if (::ftruncate(fd, static_cast<off_t>(at.end)) != 0) // the gaps of alignment included
      throw std::runtime_error(std::strerror(errno));
    if (::close(fd) != 0)
      throw std::runtime_error(std::strerror(errno));
  } catch (const std::exception& e) {
    ::close(fd);
    std::filesystem::remove(temporary, ec);
    throw std::runtime_error(fmt::format("cannot write {}: {}", temporary.string(), e.what()));
  }
  std::filesystem::rename(temporary, file, ec);
  if (ec) {
    std::filesystem::remove(temporary, ec);
    throw std::runtime_error(fmt::format("cannot rename to {}: {}", file.string(), ec.message()));
  }
}

} // namespace

std::optional<std::filesystem::path> data_cache_directory() {
  if (const char* dir = std::getenv("DSQ_CACHE_DIR")) {
    if (*dir == '\0' || std::string_view{dir} == "off")
      return std::nullopt;
    return std::filesystem::path{dir};
  }
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg == '/')
    return std::filesystem::path{xdg} / "dsq";
  if (const char* home = std::getenv("HOME"); home && *home == '/')
    return std::filesystem::path{home} / ".cache" / "dsq";
  return std::nullopt;
}

std::string cache_file_name(std::string_view kind, std::uint64_t key) {
  return fmt::format("{}-{:016x}.bin", kind, key);
}

cached_data load_through_cache(const std::optional<std::filesystem::path>& cache_dir,
                               std::string_view kind,
                               std::span<const std::filesystem::path> sources,
                               const std::function<train_test()>& parse) {
  cached_data result;
  const auto key = cache_dir ? source_key(kind, sources) : std::nullopt;
  if (!key) {
    result.data = parse();
    return result;
  }
  result.file = *cache_dir / cache_file_name(kind, *key);
  std::error_code ec;
  const bool present = std::filesystem::exists(result.file, ec);
  if (present) {
    if (auto data = read_cache(result.file, *key, result.problem)) {
      result.data = std::move(*data);
      result.outcome = cache_outcome::hit;
      return result;
    }
  }
  result.data = parse();
  result.outcome = present ? cache_outcome::rebuilt : cache_outcome::written;
  try {
    write_cache(result.file, *key, result.data);
  } catch (const std::exception& e) {
    result.outcome = cache_outcome::unwritten;
    result.problem = e.what();
  }
  return result;
}

} // namespace dsq
