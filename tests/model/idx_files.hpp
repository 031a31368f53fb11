#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

// Builds the bytes of IDX files (big-endian header, then unsigned bytes) for reader tests.

inline void append_big_endian(std::string& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((v >> shift) & 0xff));
}

inline std::string idx_images(std::uint32_t count, std::uint32_t rows, std::uint32_t cols,
                              const std::vector<unsigned char>& pixels,
                              std::uint32_t magic = 0x803) {
  std::string out;
  append_big_endian(out, magic);
  append_big_endian(out, count);
  append_big_endian(out, rows);
  append_big_endian(out, cols);
  out.append(pixels.begin(), pixels.end());
  return out;
}

inline std::string idx_labels(const std::vector<unsigned char>& labels,
                              std::uint32_t magic = 0x801) {
  std::string out;
  append_big_endian(out, magic);
  append_big_endian(out, static_cast<std::uint32_t>(labels.size()));
  out.append(labels.begin(), labels.end());
  return out;
}

// A miniature MNIST: 3 training and 2 test images of 2x2 pixels.
inline void write_tiny_mnist(const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  auto put = [&](const char* name, const std::string& bytes) {
    std::ofstream(dir / name, std::ios::binary) << bytes;
  };
  put("train-images-idx3-ubyte", idx_images(3, 2, 2, {0, 255, 0, 255, 1, 2, 3, 4, 9, 9, 9, 9}));
  put("train-labels-idx1-ubyte", idx_labels({1, 2, 3}));
  put("t10k-images-idx3-ubyte", idx_images(2, 2, 2, {255, 0, 0, 0, 0, 0, 0, 255}));
  put("t10k-labels-idx1-ubyte", idx_labels({4, 5}));
}
