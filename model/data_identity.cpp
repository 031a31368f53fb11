#include "model/data_identity.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cstring>

namespace dsq {

namespace {

/// One round of a word-at-a-time hash (the multiply-xorshift mix of splitmix64).
std::uint64_t mix(std::uint64_t h, std::uint64_t word) {
  h ^= word + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31;
  return h;
}

std::string kind_name(std::string_view spec) {
  const auto kind = spec.substr(0, spec.find(':'));
  if (kind == "mnist")
    return "MNIST";
  if (kind == "csv")
    return "CSV";
  if (kind == "libsvm")
    return "LIBSVM";
  return std::string{kind};
}

/// How to make a worker's data the server's: files are found on this host, synthetic data is
/// generated from the spec and the seed.
std::string fix_for(std::string_view spec) {
  if (spec.substr(0, spec.find(':')) == "synthetic")
    return "synthetic data is generated from the spec and --seed alone: run the same dsq build "
           "on both hosts";
  return "give --data-dir=DIR holding the server's data";
}

} // namespace

std::uint64_t data_fingerprint(const dataset& data) {
  auto h = mix(0, static_cast<std::uint64_t>(data.features.rows()));
  h = mix(h, static_cast<std::uint64_t>(data.features.cols()));
  h = mix(h, static_cast<std::uint64_t>(data.num_classes));
  // Four independent lanes over the feature words, so that the multiplications of one lane
  // overlap with the others' (a single chain is bound by their latency), combined in order.
  const float* values = data.features.data();
  const auto count = static_cast<std::size_t>(data.features.size());
  std::uint64_t lanes[4] = {h, h + 1, h + 2, h + 3};
  std::size_t i = 0;
  for (; i + 8 <= count; i += 8) // two floats to a word, four words a round
    for (int lane = 0; lane < 4; ++lane) {
      std::uint64_t word = 0;
      std::memcpy(&word, values + i + 2 * lane, sizeof word);
      lanes[lane] = mix(lanes[lane], word);
    }
  for (auto lane : lanes)
    h = mix(h, lane);
  for (; i < count; ++i)
    h = mix(h, std::bit_cast<std::uint32_t>(values[i]));
  h = mix(h, data.labels.size());
  for (auto label : data.labels)
    h = mix(h, static_cast<std::uint32_t>(label));
  return h;
}

data_identity identify_data(std::string_view spec, const train_test& data) {
  data_identity id;
  id.spec = std::string{spec};
  id.train_fingerprint = data_fingerprint(data.train);
  id.test_fingerprint = data_fingerprint(data.test);
  id.train_samples = data.train.size();
  id.test_samples = data.test.size();
  id.features = static_cast<std::uint64_t>(data.train.dimension());
  id.classes = static_cast<std::uint32_t>(data.train.num_classes);
  return id;
}

data_identity identify_source(std::string_view spec, const data_source& data, std::uint64_t seed) {
  data_identity id;
  id.spec = std::string{spec};
  id.train_samples = data.train_size();
  id.features = static_cast<std::uint64_t>(data.input_dim());
  id.classes = static_cast<std::uint32_t>(data.num_classes());
  if (const auto* train = data.train_set()) {
    id.train_fingerprint = data_fingerprint(*train);
  } else {
    shard_spec whole;
    whole.batch = std::min<std::size_t>(256, data.train_size());
    whole.seed = seed;
    dataset first;
    first.num_classes = data.num_classes();
    Eigen::MatrixXf batch; // next() fills a plain matrix
    data.open_shard(whole)->next(batch, first.labels);
    first.features = std::move(batch);
    id.train_fingerprint = data_fingerprint(first);
  }
  if (const auto* test = data.test_set()) {
    id.test_samples = test->size();
    id.test_fingerprint = data_fingerprint(*test);
  }
  return id;
}

std::string data_mismatch(const data_identity& server, const data_identity& mine) {
  const auto kind = kind_name(server.spec);
  std::string what;
  if (server.spec != mine.spec)
    what = fmt::format("data set '{}' vs '{}'", server.spec, mine.spec);
  else if (server.features != mine.features)
    what = fmt::format("{} features {} vs {}", kind, server.features, mine.features);
  else if (server.classes != mine.classes)
    what = fmt::format("{} classes {} vs {}", kind, server.classes, mine.classes);
  else if (server.train_samples != mine.train_samples)
    what = fmt::format("{} train set {} samples vs {}", kind, server.train_samples,
                       mine.train_samples);
  else if (server.test_samples != mine.test_samples)
    what =
        fmt::format("{} test set {} samples vs {}", kind, server.test_samples, mine.test_samples);
  else if (server.train_fingerprint != mine.train_fingerprint)
    what = fmt::format("{} train set fingerprint {:016x} vs {:016x} (different files?)", kind,
                       server.train_fingerprint, mine.train_fingerprint);
  else if (server.test_fingerprint != mine.test_fingerprint)
    what = fmt::format("{} test set fingerprint {:016x} vs {:016x} (different files?)", kind,
                       server.test_fingerprint, mine.test_fingerprint);
  else
    return {};
  return fmt::format("this worker's data differs from the server's: {}; {}", what,
                     fix_for(server.spec));
}

} // namespace dsq
