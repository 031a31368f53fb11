#pragma once

// What a run trains on, as the server states it in its welcome and every worker checks against
// the data it loaded itself: the data set's spec, its shape and a fingerprint of its content as
// loaded (after parsing, splitting and scaling), so that two hosts whose files differ, or a
// worker that found other files than the server, are told apart before they train.

#include "model/dataset.hpp"

#include <dsq/data.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace dsq {

/// The identity of a loaded data set (train_test).
struct data_identity {
  /// The concrete spec that was loaded ("mnist", "synthetic:n=500", never "auto"); empty: no
  /// identity known (the data came from elsewhere).
  std::string spec;
  std::uint64_t train_fingerprint = 0; ///< data_fingerprint() of the training part
  std::uint64_t test_fingerprint = 0;  ///< data_fingerprint() of the test part
  std::uint64_t train_samples = 0;
  std::uint64_t test_samples = 0;
  std::uint64_t features = 0;
  std::uint32_t classes = 0;

  friend bool operator==(const data_identity&, const data_identity&) = default;
};

/// The version of data_fingerprint()'s definition: a data cache file records fingerprints, so
/// its name includes this (model/data_cache.cpp), and a changed definition starts new files.
inline constexpr std::uint64_t data_fingerprint_version = 2;

/// A 64-bit hash of `data` as held in memory: its shape, the bits of every feature and every
/// label. Equal data sets have equal fingerprints on every host; a single changed value changes
/// it (with overwhelming probability).
std::uint64_t data_fingerprint(const dataset& data);

/// data_fingerprint(data) for data whose features are read-only memory that stays as it is
/// until forget_read_only_fingerprints() is called for it (a mapped data cache): the hash of
/// its features is kept, so that later data_fingerprint() calls for the same features (same
/// address, shape and class count) hash only the labels. A data set's identity then costs no
/// second pass over data the cache has just verified.
std::uint64_t remember_read_only_fingerprint(const dataset& data);

/// Forgets what remember_read_only_fingerprint() kept for features within the `bytes` bytes
/// from `begin` (called before that memory is unmapped).
void forget_read_only_fingerprints(const void* begin, std::size_t bytes);

/// The identity of `data`, loaded from the concrete `spec`.
data_identity identify_data(std::string_view spec, const train_test& data);

/// The identity of a program's own data (include/dsq/registry.hpp) built from `spec` with
/// `seed`: its shape, and the fingerprints of what it can give. The train fingerprint is that
/// of train_set() when the source has one, else that of the first batch (up to 256 samples) of
/// the whole data as one shuffled shard with `seed`; the test fingerprint is test_set()'s, or 0.
data_identity identify_source(std::string_view spec, const data_source& data, std::uint64_t seed);

/// Empty if `mine` (a worker's data) is `server`'s; else one line that names the first thing
/// that differs and how to fix it, e.g. "this worker's data differs from the server's: MNIST
/// train set fingerprint 1a2b... vs 3c4d... (different files?); give --data-dir=DIR holding the
/// server's data".
std::string data_mismatch(const data_identity& server, const data_identity& mine);

} // namespace dsq
