#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "model/data_error.hpp"

namespace dsq {

/// The largest data file a reader accepts (8 GiB): the data set is held in memory as floats.
inline constexpr std::uintmax_t max_data_file_bytes = std::uintmax_t{8} << 30;

/// The largest LIBSVM feature index (10^7): every feature is a row of a dense matrix.
inline constexpr std::int64_t max_libsvm_features = 10'000'000;

/// The largest data set, in float values (features x samples): 2^32 values are 16 GiB.
inline constexpr std::uint64_t max_dense_values = std::uint64_t{1} << 32;

/// Throws dsq::data_error unless `file` exists, is a regular file and is at most
/// max_data_file_bytes long. A device or a fifo (/dev/zero) would otherwise be read forever.
inline void check_data_file(const std::filesystem::path& file) {
  std::error_code ec;
  const auto status = std::filesystem::status(file, ec);
  if (!std::filesystem::exists(status))
    throw data_error(file, "file not found");
  if (!std::filesystem::is_regular_file(status))
    throw data_error(file, "not a regular file");
  const auto size = std::filesystem::file_size(file, ec);
  if (ec)
    throw data_error(file, "cannot read its size: " + ec.message());
  if (size > max_data_file_bytes)
    throw data_error(file, std::to_string(size) + " bytes, more than the limit of " +
                               std::to_string(max_data_file_bytes) + " for a data file");
}

} // namespace dsq
