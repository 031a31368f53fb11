#include "model/mnist_idx.hpp"

#include <array>
#include <fstream>

#include <fmt/format.h>

#include "model/data_error.hpp"
#include "model/data_file.hpp"

namespace dsq {

namespace {

constexpr std::uint32_t images_magic = 0x00000803; // unsigned bytes, 3 dimensions
constexpr std::uint32_t labels_magic = 0x00000801; // unsigned bytes, 1 dimension
constexpr int mnist_classes = 10;

std::vector<unsigned char> read_whole_file(const std::filesystem::path& file) {
  check_data_file(file);
  std::ifstream in(file, std::ios::binary);
  if (!in)
    throw data_error(file, "cannot open for reading");
  in.seekg(0, std::ios::end);
  const auto size = static_cast<std::size_t>(in.tellg());
  in.seekg(0, std::ios::beg);
  std::vector<unsigned char> bytes(size);
  if (!in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(size)))
    throw data_error(file, "read failed");
  return bytes;
}

std::uint32_t big_endian_u32(const std::vector<unsigned char>& bytes, std::size_t offset) {
  return (std::uint32_t{bytes[offset]} << 24) | (std::uint32_t{bytes[offset + 1]} << 16) |
         (std::uint32_t{bytes[offset + 2]} << 8) | std::uint32_t{bytes[offset + 3]};
}

// Checks magic number and size against the header and returns the dimensions; the payload
// starts right after them.
template <std::size_t Dims>
std::array<std::uint64_t, Dims> read_idx_header(const std::vector<unsigned char>& bytes,
                                                const std::filesystem::path& file,
                                                std::uint32_t magic, const char* what) {
  // The magic number comes first: it tells a wrong kind of file from a damaged one.
  if (bytes.size() < 4)
    throw data_error(
        file, fmt::format("truncated: {} bytes, too short for an IDX magic number", bytes.size()));
  const auto found = big_endian_u32(bytes, 0);
  if (found != magic)
    throw data_error(file, fmt::format("bad magic number 0x{:08x} (expected 0x{:08x} for IDX {})",
                                       found, magic, what));
  const std::size_t header_size = 4 * (1 + Dims);
  if (bytes.size() < header_size)
    throw data_error(file, fmt::format("truncated: {} bytes, shorter than the {}-byte IDX header",
                                       bytes.size(), header_size));
  std::array<std::uint64_t, Dims> dims{};
  std::uint64_t payload = 1;
  for (std::size_t k = 0; k < Dims; ++k) {
    dims[k] = big_endian_u32(bytes, 4 * (1 + k));
    if (dims[k] == 0)
      throw data_error(file, fmt::format("header dimension {} is zero", k));
    // Three 32-bit dimensions can multiply past 2^64 and wrap to a size that looks right.
    if (__builtin_mul_overflow(payload, dims[k], &payload))
      throw data_error(file, fmt::format("header dimensions overflow: their product exceeds 2^64 "
                                         "bytes (file has {})",
                                         bytes.size()));
  }
  const auto expected = header_size + payload;
  if (bytes.size() < expected)
    throw data_error(file, fmt::format("truncated: header announces {} bytes of data, file has {}",
                                       payload, bytes.size() - header_size));
  if (bytes.size() > expected)
    throw data_error(file, fmt::format("header sizes inconsistent with file: {} bytes of data "
                                       "announced, file has {} (trailing bytes)",
                                       payload, bytes.size() - header_size));
  return dims;
}

} // namespace

feature_matrix read_idx_images(const std::filesystem::path& file) {
  const auto bytes = read_whole_file(file);
  const auto [count, rows, cols] = read_idx_header<3>(bytes, file, images_magic, "images");
  const auto pixels = static_cast<Eigen::Index>(rows * cols);
  // IDX stores each image contiguously, exactly the layout of one column. A plain loop, which
  // the compiler vectorises (Eigen's cast from bytes is scalar): the same quotients.
  feature_matrix images(pixels, static_cast<Eigen::Index>(count));
  const unsigned char* in = bytes.data() + 16;
  float* out = images.data();
  const auto n = static_cast<std::size_t>(images.size());
  for (std::size_t i = 0; i < n; ++i)
    out[i] = static_cast<float>(in[i]) / 255.0f;
  return images;
}

std::vector<std::int32_t> read_idx_labels(const std::filesystem::path& file) {
  const auto bytes = read_whole_file(file);
  const auto [count] = read_idx_header<1>(bytes, file, labels_magic, "labels");
  return std::vector<std::int32_t>(bytes.begin() + 8, bytes.begin() + 8 + count);
}

dataset read_mnist_pair(const std::filesystem::path& images, const std::filesystem::path& labels) {
  dataset data;
  data.features = read_idx_images(images);
  data.labels = read_idx_labels(labels);
  data.num_classes = mnist_classes;
  if (static_cast<std::size_t>(data.features.cols()) != data.labels.size())
    throw data_error(fmt::format("{} holds {} images but {} holds {} labels", images.string(),
                                 data.features.cols(), labels.string(), data.labels.size()));
  for (std::size_t i = 0; i < data.labels.size(); ++i)
    if (data.labels[i] >= mnist_classes)
      throw data_error(labels,
                       fmt::format("label {} of item {} is not a digit 0-9", data.labels[i], i));
  return data;
}

} // namespace dsq
