#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

#include <Eigen/Core>

#include "model/dataset.hpp"

namespace dsq {

// Readers for the IDX format of MNIST (big-endian header: magic 0x00000803 / 0x00000801, then
// the dimensions, then unsigned bytes). Every problem is a dsq::data_error naming the file:
// missing or unreadable, bad magic number, a zero dimension, a size that disagrees with the
// header (truncated or with trailing bytes).

// Images as a (rows * cols) x N matrix, one image per column in row-major pixel order, with
// the pixel bytes scaled from [0, 255] to [0, 1].
feature_matrix read_idx_images(const std::filesystem::path& file);

// Labels as stored (0..255).
std::vector<std::int32_t> read_idx_labels(const std::filesystem::path& file);

// An image file and its label file as one data set with 10 classes. Throws dsq::data_error if
// the counts differ or a label is not a digit.
dataset read_mnist_pair(const std::filesystem::path& images, const std::filesystem::path& labels);

} // namespace dsq
