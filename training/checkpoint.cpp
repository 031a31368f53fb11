#include "training/checkpoint.hpp"

#include "training/output_file.hpp"
#include "training/training_spec.hpp"

#include <boost/crc.hpp>
#include <cereal/archives/portable_binary.hpp>
#include <cereal/types/string.hpp>
#include <fmt/format.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <unistd.h>

namespace dsq {

namespace {

constexpr std::uint32_t magic = 0x4453514b; // "DSQK"
constexpr std::uint32_t format_version = 2;
constexpr std::size_t header_size = 4 + 4 + 8; // magic, format, body length
constexpr std::size_t crc_size = 4;
/// A vector longer than this is damage, not a model (2^32 floats are 16 GiB).
constexpr std::uint64_t max_vector_length = std::uint64_t{1} << 32;

std::filesystem::path file_in(const std::string& dir) {
  return std::filesystem::path{dir} / "server.ckpt";
}

std::uint32_t crc32(const char* data, std::size_t size) {
  boost::crc_32_type crc;
  crc.process_bytes(data, size);
  return crc.checksum();
}

void put_u32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i)
    out += static_cast<char>((v >> (8 * i)) & 0xff);
}

void put_u64(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i)
    out += static_cast<char>((v >> (8 * i)) & 0xff);
}

template <class T>
T get_le(const std::string& in, std::size_t offset) {
  T v = 0;
  for (std::size_t i = 0; i < sizeof(T); ++i)
    v |= static_cast<T>(static_cast<unsigned char>(in[offset + i])) << (8 * i);
  return v;
}

/// One named block of the body: the vector's length, then its floats.
std::string vector_section(const Eigen::VectorXf& v) {
  std::ostringstream out;
  {
    cereal::PortableBinaryOutputArchive ar{out};
    ar(static_cast<std::uint64_t>(v.size()));
    ar(cereal::binary_data(v.data(), sizeof(float) * static_cast<std::size_t>(v.size())));
  }
  return out.str();
}

Eigen::VectorXf read_vector_section(const std::string& name, const std::string& bytes) {
  std::istringstream in{bytes};
  cereal::PortableBinaryInputArchive ar{in};
  std::uint64_t n = 0;
  ar(n);
  const auto left = bytes.size() - static_cast<std::size_t>(in.tellg());
  if (n > max_vector_length || n * sizeof(float) != left)
    throw std::runtime_error(
        fmt::format("section '{}' announces {} values in {} bytes", name, n, left));
  Eigen::VectorXf v(static_cast<Eigen::Index>(n));
  ar(cereal::binary_data(v.data(), sizeof(float) * n));
  for (Eigen::Index i = 0; i < v.size(); ++i)
    if (!std::isfinite(v[i]))
      throw std::runtime_error(fmt::format(
          "section '{}' holds a value that is not finite ({}) at index {}", name, v[i], i));
  return v;
}

std::string body_of(const checkpoint& ckpt) {
  std::ostringstream out;
  {
    cereal::PortableBinaryOutputArchive ar{out};
    ar(ckpt.spec, ckpt.version);
    const std::pair<const char*, const Eigen::VectorXf*> sections[] = {
        {"model", &ckpt.model},
        {"server_residual", &ckpt.server_residual},
        {"momentum", &ckpt.momentum}};
    ar(static_cast<std::uint32_t>(std::size(sections)));
    for (const auto& [name, v] : sections)
      ar(std::string{name}, vector_section(*v));
  }
  return out.str();
}

void read_body(const std::string& body, checkpoint& ckpt) {
  std::istringstream in{body};
  cereal::PortableBinaryInputArchive ar{in};
  ar(ckpt.spec, ckpt.version);
  std::uint32_t count = 0;
  ar(count);
  bool have_model = false;
  for (std::uint32_t k = 0; k < count; ++k) {
    std::string name, bytes;
    ar(name, bytes);
    if (name == "model") {
      ckpt.model = read_vector_section(name, bytes);
      have_model = true;
    } else if (name == "server_residual") {
      ckpt.server_residual = read_vector_section(name, bytes);
    } else if (name == "momentum") {
      ckpt.momentum = read_vector_section(name, bytes);
    } else {
      throw std::runtime_error("unknown section '" + name +
                               "' (written by a newer version of dsq?)");
    }
  }
  if (!have_model)
    throw std::runtime_error("no model section");
  if (in.peek() != std::char_traits<char>::eof())
    throw std::runtime_error("bytes after the last section");
}

} // namespace

void check_checkpoint_dir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    throw std::runtime_error(
        fmt::format("cannot write checkpoint directory '{}': {}", dir, ec.message()));
  if (!std::filesystem::is_directory(dir, ec))
    throw std::runtime_error(
        fmt::format("cannot write checkpoint directory '{}': not a directory", dir));
  // A probe file of a few bytes, synced: checks permissions, a read-only mount, a full disk.
  const auto probe = std::filesystem::path{dir} / fmt::format(".dsq-write-test-{}", ::getpid());
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int error = fd < 0 ? errno : 0;
  if (fd >= 0) {
    if (::write(fd, "dsq\n", 4) != 4 || ::fsync(fd) != 0)
      error = errno != 0 ? errno : EIO;
    if (::close(fd) != 0 && error == 0)
      error = errno;
    std::filesystem::remove(probe, ec);
  }
  if (error != 0)
    throw std::runtime_error(
        fmt::format("cannot write checkpoint directory '{}': {}", dir, std::strerror(error)));
}

void write_checkpoint(const std::string& dir, const checkpoint& ckpt) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    throw std::runtime_error(
        fmt::format("cannot write checkpoint directory '{}': {}", dir, ec.message()));
  const auto body = body_of(ckpt);
  std::string file;
  file.reserve(header_size + body.size() + crc_size);
  put_u32(file, magic);
  put_u32(file, format_version);
  put_u64(file, body.size());
  file += body;
  put_u32(file, crc32(file.data(), file.size()));
  write_file_atomically(file_in(dir), file, "checkpoint");
}

checkpoint read_checkpoint(const std::string& dir) {
  const auto path = file_in(dir);
  auto fail = [&](const std::string& problem) {
    throw std::runtime_error("checkpoint '" + path.string() + "': " + problem);
  };
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    throw std::runtime_error("no checkpoint at '" + path.string() + "'");
  if (!std::filesystem::is_regular_file(path, ec))
    fail("not a regular file");
  std::string file;
  {
    std::ifstream in{path, std::ios::binary};
    if (!in)
      fail(std::string{"cannot open: "} + std::strerror(errno));
    file.assign(std::istreambuf_iterator<char>{in}, {});
    if (in.bad())
      fail(std::string{"cannot read: "} + std::strerror(errno));
  }
  if (file.size() < 4 || get_le<std::uint32_t>(file, 0) != magic)
    fail("not a dsq checkpoint");
  if (file.size() < header_size + crc_size)
    fail(fmt::format("truncated: {} bytes", file.size()));
  const auto body_size = get_le<std::uint64_t>(file, 8);
  const auto expected = file.size() - header_size - crc_size;
  if (body_size != expected)
    fail(fmt::format("truncated or damaged: the header announces {} bytes of content, the file "
                     "holds {}",
                     body_size, expected));
  const auto stored = get_le<std::uint32_t>(file, file.size() - crc_size);
  const auto computed = crc32(file.data(), file.size() - crc_size);
  if (stored != computed)
    fail(fmt::format("damaged: checksum 0x{:08x} does not match its content (0x{:08x})", stored,
                     computed));
  const auto format = get_le<std::uint32_t>(file, 4);
  if (format != format_version)
    fail(fmt::format("checkpoint format {}, this version of dsq reads format {}", format,
                     format_version));
  checkpoint ckpt;
  try {
    read_body(file.substr(header_size, body_size), ckpt);
  } catch (const cereal::Exception& e) {
    fail(std::string{"malformed content: "} + e.what());
  } catch (const std::runtime_error& e) {
    fail(e.what());
  }
  auto sized = [&](const Eigen::VectorXf& v) {
    return v.size() == 0 || v.size() == ckpt.model.size();
  };
  if (!sized(ckpt.server_residual) || !sized(ckpt.momentum))
    fail("vector sizes disagree");
  return ckpt;
}

void check_fits(const checkpoint& ckpt, std::size_t dim) {
  if (static_cast<std::size_t>(ckpt.model.size()) != dim)
    throw std::runtime_error("the checkpoint holds " + std::to_string(ckpt.model.size()) +
                             " parameters, the model has " + std::to_string(dim) +
                             " (different model or data?)");
}

void check_same_training(const checkpoint& ckpt, const run_config& cfg) {
  auto differences = training_spec_differences(ckpt.spec, training_spec_text(cfg));
  if (!differences.empty())
    throw std::runtime_error("cannot resume from this checkpoint: " + differences);
}

} // namespace dsq
