#pragma once

// A data set as bytes, for a worker that gets its data from the server (net/PROTOCOL.md, "Data
// from the server"): a fixed little-endian layout of the data as held in memory (after parsing,
// splitting and scaling), so that the bytes a server sends, and their fingerprint, are the same
// on every host.
//
//   offset  size       field
//   0       8          magic "DSQDATA1"
//   8       8          features d (u64)
//   16      8          samples N (u64)
//   24      4          classes (u32)
//   28      4          zero
//   32      4·d·N      the features, sample after sample (column-major), IEEE-754 binary32 bits
//   32+4dN  4·N        the labels (i32)
//
// read_dataset_bytes() gives back exactly the dataset that was written: its data_fingerprint()
// (model/data_identity.hpp) is the one the server states in its welcome, which is how a worker
// checks what it received.

#include "model/dataset.hpp"

#include <cstdint>
#include <span>

namespace dsq {

/// The size of the layout of a data set of `samples` samples of `features` features, in bytes.
std::uint64_t dataset_bytes_size(std::uint64_t features, std::uint64_t samples);

/// Writes the bytes [offset, offset + out.size()) of `data`'s layout into `out` (without
/// making the whole layout: a server sends a large training set chunk by chunk). Throws
/// std::out_of_range if the range passes the end.
void copy_dataset_bytes(const dataset& data, std::uint64_t offset, std::span<std::uint8_t> out);

/// The data set whose layout is `bytes`. Throws std::invalid_argument naming what is wrong (the
/// magic, a size that does not match the header, a label out of range).
dataset read_dataset_bytes(std::span<const std::uint8_t> bytes);

} // namespace dsq
