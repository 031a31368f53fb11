#pragma once

// The parsed-data cache: a data set as one binary file of its floats and labels, which later
// loads map read-only instead of parsing (docs/usage.md, "The data cache"). Every process of a
// host then shares one copy through the page cache: a 4-worker MNIST run loads its data in
// milliseconds per process instead of about a second (parsing, and faulting in 220 MB).
//
// A file is named by a hash of the source files' paths, sizes, inodes and modification times,
// so replaced or rewritten sources miss the cache (content changed in place with the same size
// and time, as `touch -d` can fake, is not noticed: delete the cache directory then). It
// is written to a temporary file and renamed, so that processes racing to write it leave one
// whole file, and it is checked before use: its size, header and the data's fingerprints
// (model/data_identity.hpp) must match, else it is rebuilt from the sources, never trusted.

#include "model/dataset.hpp"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>

namespace dsq {

/// The cache directory: $DSQ_CACHE_DIR if set (empty or "off": no cache), else
/// $XDG_CACHE_HOME/dsq, else $HOME/.cache/dsq; nullopt when there is none.
std::optional<std::filesystem::path> data_cache_directory();

/// How a cached load went.
enum class cache_outcome {
  disabled, ///< no cache directory: parsed from the sources
  hit,      ///< mapped from the cache file
  written,  ///< parsed, and the cache file written for the next load
  rebuilt,  ///< the cache file was damaged (see `problem`): parsed and written anew
  unwritten ///< parsed; the cache file could not be written (see `problem`)
};

/// A data set loaded through the cache.
struct cached_data {
  train_test data;
  cache_outcome outcome = cache_outcome::disabled;
  std::filesystem::path file; ///< the cache file (empty when disabled)
  std::string problem;        ///< why a file was rebuilt or not written
};

/// `parse()` through the cache in `cache_dir` (none: parse): the cache file for `kind` and the
/// identity of `sources` (the files parse() reads) is used when it passes every check, else
/// parse() runs and its result is written there. `description` of a hit is parse()'s.
cached_data load_through_cache(const std::optional<std::filesystem::path>& cache_dir,
                               std::string_view kind,
                               std::span<const std::filesystem::path> sources,
                               const std::function<train_test()>& parse);

/// The cache file's name for `kind` and the key of its sources (for tests and messages).
std::string cache_file_name(std::string_view kind, std::uint64_t key);

} // namespace dsq
