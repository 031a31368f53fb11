#include "model/data_identity.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <mutex>
#include <optional>
#include <vector>

#if defined(__SSE4_1__)
#include <smmintrin.h>
#endif

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

namespace {

/// One xxHash32 round: the lanes of the features' hash.
constexpr std::uint32_t lane_prime_1 = 2654435761u, lane_prime_2 = 2246822519u;
inline std::uint32_t lane_round(std::uint32_t lane, std::uint32_t word) {
  return std::rotl(lane + word * lane_prime_2, 13) * lane_prime_1;
}

/// The hash of data_fingerprint() before the labels: the shape, the class count, every feature.
/// The features' bits go through 16 independent 32-bit lanes (xxHash32's round: a word every
/// lane, 64 bytes a step), computed four lanes to an SSE register where the build has SSE4.1
/// and one by one otherwise, with the same result: every process of a run hashes the whole
/// data set once, and a single 64-bit chain ran at about 2 GB/s, the largest part of a
/// worker's start (0.4 s of 4 workers on 2 cores for MNIST's 220 MB).
std::uint64_t features_hash(const dataset& data) {
  auto h = mix(0, static_cast<std::uint64_t>(data.features.rows()));
  h = mix(h, static_cast<std::uint64_t>(data.features.cols()));
  h = mix(h, static_cast<std::uint64_t>(data.num_classes));
  const auto* bytes = reinterpret_cast<const unsigned char*>(data.features.data());
  const auto count = static_cast<std::size_t>(data.features.size());
  alignas(16) std::uint32_t lanes[16];
  for (std::uint32_t i = 0; i < 16; ++i)
    lanes[i] = static_cast<std::uint32_t>(h >> (i % 2 == 0 ? 0 : 32)) + i * lane_prime_1;
  std::size_t i = 0;
#if defined(__SSE4_1__)
  __m128i acc[4];
  for (int r = 0; r < 4; ++r)
    acc[r] = _mm_load_si128(reinterpret_cast<const __m128i*>(lanes + 4 * r));
  const __m128i p1 = _mm_set1_epi32(static_cast<int>(lane_prime_1));
  const __m128i p2 = _mm_set1_epi32(static_cast<int>(lane_prime_2));
  for (; i + 16 <= count; i += 16)
    for (int r = 0; r < 4; ++r) {
      const __m128i word =
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(bytes + 4 * (i + 4 * r)));
      const __m128i sum = _mm_add_epi32(acc[r], _mm_mullo_epi32(word, p2));
      acc[r] = _mm_mullo_epi32(_mm_or_si128(_mm_slli_epi32(sum, 13), _mm_srli_epi32(sum, 19)), p1);
    }
  for (int r = 0; r < 4; ++r)
    _mm_store_si128(reinterpret_cast<__m128i*>(lanes + 4 * r), acc[r]);
#endif
  for (; i + 16 <= count; i += 16)
    for (int lane = 0; lane < 16; ++lane) {
      std::uint32_t word = 0;
      std::memcpy(&word, bytes + 4 * (i + lane), sizeof word);
      lanes[lane] = lane_round(lanes[lane], word);
    }
  for (auto lane : lanes)
    h = mix(h, lane);
  for (; i < count; ++i) {
    std::uint32_t word = 0;
    std::memcpy(&word, bytes + 4 * i, sizeof word);
    h = mix(h, word);
  }
  return h;
}

/// features_hash() of read-only features, by their values' address, shape and class count.
struct known_features {
  const float* values;
  Eigen::Index rows, cols;
  int classes;
  std::uint64_t hash;
};

std::mutex known_mutex;
std::vector<known_features> known; // a handful of entries: a linear search

std::optional<std::uint64_t> known_hash(const dataset& data) {
  const std::lock_guard lock{known_mutex};
  for (const auto& k : known)
    if (k.values == data.features.data() && k.rows == data.features.rows() &&
        k.cols == data.features.cols() && k.classes == data.num_classes)
      return k.hash;
  return std::nullopt;
}

std::uint64_t with_labels(std::uint64_t h, const dataset& data) {
  h = mix(h, data.labels.size());
  for (auto label : data.labels)
    h = mix(h, static_cast<std::uint32_t>(label));
  return h;
}

} // namespace

std::uint64_t data_fingerprint(const dataset& data) {
  const auto known = known_hash(data);
  return with_labels(known ? *known : features_hash(data), data);
}

std::uint64_t remember_read_only_fingerprint(const dataset& data) {
  auto h = known_hash(data);
  if (!h) {
    h = features_hash(data);
    const std::lock_guard lock{known_mutex};
    known.push_back(
        {data.features.data(), data.features.rows(), data.features.cols(), data.num_classes, *h});
  }
  return with_labels(*h, data);
}

void forget_read_only_fingerprints(const void* begin, std::size_t bytes) {
  const auto* first = static_cast<const unsigned char*>(begin);
  const std::lock_guard lock{known_mutex};
  std::erase_if(known, [&](const known_features& k) {
    const auto* at = reinterpret_cast<const unsigned char*>(k.values);
    return at >= first && at < first + bytes;
  });
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
