#include "training/checkpoint.hpp"

#include "training/output_file.hpp"
#include "training/push_check.hpp"
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
#include <set>
#include <sstream>
#include <stdexcept>
#include <unistd.h>

namespace dsq {

namespace {

constexpr std::uint32_t magic = 0x4453514b; // "DSQK"
constexpr std::uint32_t format_version = 4;
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

/// Writes one section's content into a string through a portable binary archive.
template <class F>
std::string section(F&& fill) {
  std::ostringstream out;
  {
    cereal::PortableBinaryOutputArchive ar{out};
    fill(ar);
  }
  return out.str();
}

void put_floats(cereal::PortableBinaryOutputArchive& ar, const float* data, std::size_t n) {
  ar(static_cast<std::uint64_t>(n));
  ar(cereal::binary_data(data, sizeof(float) * n));
}

/// One named block of the body: the vector's length, then its floats.
std::string vector_section(const Eigen::VectorXf& v) {
  return section([&](auto& ar) { put_floats(ar, v.data(), static_cast<std::size_t>(v.size())); });
}

std::string rng_section(const std::vector<std::uint64_t>& words) {
  return section([&](auto& ar) {
    ar(static_cast<std::uint64_t>(words.size()));
    for (auto w : words)
      ar(w);
  });
}

/// The automatic push bound's norms: their count, then the values.
std::string norms_section(const std::vector<double>& norms) {
  return section([&](auto& ar) {
    ar(static_cast<std::uint64_t>(norms.size()));
    for (double v : norms)
      ar(v);
  });
}

std::string number_section(double v) {
  return section([&](auto& ar) { ar(v); });
}

void put_shard(cereal::PortableBinaryOutputArchive& ar, const shard_assignment& s) {
  ar(s.generation, s.index, s.count);
}

std::string membership_section(const membership_snapshot& m) {
  return section([&](auto& ar) {
    ar(m.next_id, m.generation, static_cast<std::uint32_t>(m.members.size()));
    for (const auto& [id, shard] : m.members) {
      ar(id);
      put_shard(ar, shard);
    }
  });
}

std::string workers_section(const std::map<std::uint32_t, worker_snapshot>& workers) {
  return section([&](auto& ar) {
    ar(static_cast<std::uint32_t>(workers.size()));
    for (const auto& [id, w] : workers) {
      ar(id, w.worker_id, w.version);
      put_shard(ar, w.shard);
      ar(static_cast<std::uint64_t>(w.sampler_state.size()));
      for (auto word : w.sampler_state)
        ar(word);
      ar(static_cast<std::uint64_t>(w.rng.size()));
      for (auto word : w.rng)
        ar(word);
      put_floats(ar, w.residual.data(), w.residual.size());
    }
  });
}

void put_range(cereal::PortableBinaryOutputArchive& ar, const key_range& r) {
  ar(r.begin, r.end);
}

/// A sharded leader's: K, then each range and its follower's digest.
std::string shards_section(const shard_set& set) {
  return section([&](auto& ar) {
    ar(static_cast<std::uint32_t>(set.ranges.size()));
    for (std::size_t k = 0; k < set.ranges.size(); ++k) {
      put_range(ar, set.ranges[k]);
      ar(k < set.digests.size() ? set.digests[k] : std::uint32_t{0});
    }
  });
}

/// A follower's: its shard, K and range.
std::string slice_section(const slice_identity& id) {
  return section([&](auto& ar) {
    ar(id.shard, id.shards);
    put_range(ar, id.range);
  });
}

/// Reads one section's content; knows how many bytes are left, so that a count read from the
/// file is checked against them before anything is allocated.
class section_reader {
public:
  section_reader(std::string name, const std::string& bytes)
      : name_(std::move(name)), size_(bytes.size()), in_(bytes), ar_(in_) {}

  template <class T>
  T get() {
    T v{};
    need(sizeof(T));
    ar_(v);
    return v;
  }

  /// A count of items of `item_size` bytes each that must fit in what is left.
  std::uint64_t count(std::size_t item_size) {
    const auto n = get<std::uint64_t>();
    if (n > left() / item_size)
      fail(fmt::format("announces {} values in {} bytes", n, left()));
    return n;
  }

  void floats(float* out, std::uint64_t n) {
    ar_(cereal::binary_data(out, sizeof(float) * n));
    for (std::uint64_t i = 0; i < n; ++i)
      if (!std::isfinite(out[i]))
        fail(fmt::format("holds a value that is not finite ({}) at index {}", out[i], i));
  }

  shard_assignment shard() {
    shard_assignment s;
    s.generation = get<std::uint64_t>();
    s.index = get<std::uint32_t>();
    s.count = get<std::uint32_t>();
    if (s.count == 0 || s.index >= s.count)
      fail(fmt::format("holds shard {} of {}, which does not exist", s.index, s.count));
    return s;
  }

  std::size_t left() { return size_ - static_cast<std::size_t>(in_.tellg()); }

  void finish() {
    if (left() != 0)
      fail(fmt::format("has {} bytes after its content", left()));
  }

  [[noreturn]] void fail(const std::string& problem) const {
    throw std::runtime_error(fmt::format("section '{}' {}", name_, problem));
  }

private:
  void need(std::size_t n) {
    if (left() < n)
      fail("is truncated");
  }

  std::string name_;
  std::size_t size_;
  std::istringstream in_;
  cereal::PortableBinaryInputArchive ar_;
};

Eigen::VectorXf read_vector_section(const std::string& name, const std::string& bytes) {
  section_reader r{name, bytes};
  const auto n = r.get<std::uint64_t>();
  if (n > max_vector_length || n * sizeof(float) != r.left())
    r.fail(fmt::format("announces {} values in {} bytes", n, r.left()));
  Eigen::VectorXf v(static_cast<Eigen::Index>(n));
  r.floats(v.data(), n);
  return v;
}

std::vector<std::uint64_t> read_rng(section_reader& r) {
  const auto n = r.count(sizeof(std::uint64_t));
  if (n != 4)
    r.fail(fmt::format("holds a random stream of {} words instead of 4", n));
  std::vector<std::uint64_t> words(4);
  for (auto& w : words)
    w = r.get<std::uint64_t>();
  if ((words[0] | words[1] | words[2] | words[3]) == 0)
    r.fail("holds an all-zero random stream");
  return words;
}

/// The push_norms section: at most push_norm_window norms.
std::vector<double> read_norms_section(const std::string& bytes) {
  section_reader r{"push_norms", bytes};
  const auto n = r.count(sizeof(double));
  if (n > push_norm_window)
    r.fail(fmt::format("holds {} norms; the push bound looks at {}", n, push_norm_window));
  std::vector<double> norms;
  for (std::uint64_t i = 0; i < n; ++i) {
    const auto v = r.get<double>();
    if (!is_push_norm(v))
      r.fail(fmt::format("holds {} at index {}, which is not a norm", v, i));
    norms.push_back(v);
  }
  r.finish();
  return norms;
}

/// A section of one push norm (push_norm_peak).
double read_norm_section(const std::string& name, const std::string& bytes) {
  section_reader r{name, bytes};
  const auto v = r.get<double>();
  if (!is_push_norm(v))
    r.fail(fmt::format("holds {}, which is not a norm", v));
  r.finish();
  return v;
}

std::vector<std::uint64_t> read_rng_section(const std::string& bytes) {
  section_reader r{"server_rng", bytes};
  auto words = read_rng(r);
  r.finish();
  return words;
}

key_range read_range(section_reader& r) {
  key_range range;
  range.begin = r.get<std::uint64_t>();
  range.end = r.get<std::uint64_t>();
  if (range.end <= range.begin || range.end > max_vector_length)
    r.fail(fmt::format("holds the range [{}, {}), which is none", range.begin, range.end));
  return range;
}

/// The shards section: 2..max K contiguous ranges from 0, a digest each.
shard_set read_shards_section(const std::string& bytes) {
  section_reader r{"shards", bytes};
  const auto k = r.get<std::uint32_t>();
  if (k < 2 || k > max_vector_length || k > r.left() / (2 * sizeof(std::uint64_t)))
    r.fail(fmt::format("names {} shards", k));
  shard_set set;
  for (std::uint32_t i = 0; i < k; ++i) {
    set.ranges.push_back(read_range(r));
    set.digests.push_back(r.get<std::uint32_t>());
    const auto expected_begin = i == 0 ? 0 : set.ranges[i - 1].end;
    if (set.ranges[i].begin != expected_begin)
      r.fail(fmt::format("holds range {} from {}, not from {}", i, set.ranges[i].begin,
                         expected_begin));
  }
  r.finish();
  return set;
}

slice_identity read_slice_section(const std::string& bytes) {
  section_reader r{"slice", bytes};
  slice_identity id;
  id.shard = r.get<std::uint32_t>();
  id.shards = r.get<std::uint32_t>();
  if (id.shard == 0 || id.shard >= id.shards)
    r.fail(fmt::format("names shard {} of {}, which is no follower", id.shard, id.shards));
  id.range = read_range(r);
  r.finish();
  return id;
}

membership_snapshot read_membership_section(const std::string& bytes) {
  section_reader r{"membership", bytes};
  membership_snapshot m;
  m.next_id = r.get<std::uint32_t>();
  m.generation = r.get<std::uint64_t>();
  const auto n = r.get<std::uint32_t>();
  for (std::uint32_t k = 0; k < n; ++k) {
    const auto id = r.get<std::uint32_t>();
    auto shard = r.shard();
    if (id >= m.next_id)
      r.fail(fmt::format("names member {}, an id never handed out (next id {})", id, m.next_id));
    if (shard.generation > m.generation)
      r.fail(fmt::format("gives member {} a shard of generation {}, after the last ({})", id,
                         shard.generation, m.generation));
    if (!m.members.emplace(id, shard).second)
      r.fail(fmt::format("names member {} twice", id));
  }
  r.finish();
  return m;
}

/// `format` 3 held each worker's sampler state as exactly two words (epoch, position), the
/// state of the built-in data source; format 4 holds a count and the words.
std::map<std::uint32_t, worker_snapshot>
read_workers_section(const std::string& bytes, std::uint64_t version, std::uint32_t format) {
  section_reader r{"workers", bytes};
  std::map<std::uint32_t, worker_snapshot> workers;
  const auto n = r.get<std::uint32_t>();
  for (std::uint32_t k = 0; k < n; ++k) {
    const auto key = r.get<std::uint32_t>();
    worker_snapshot w;
    w.worker_id = r.get<std::uint32_t>();
    if (w.worker_id != key)
      r.fail(fmt::format("files worker {}'s state under worker {}", w.worker_id, key));
    w.version = r.get<std::uint64_t>();
    if (w.version != version)
      r.fail(fmt::format("holds worker {}'s state of step {} in a checkpoint of step {}", key,
                         w.version, version));
    w.shard = r.shard();
    const std::uint64_t words = format == 3 ? 2 : r.count(sizeof(std::uint64_t));
    if (words > max_state_words)
      r.fail(fmt::format("holds worker {}'s sampler state of {} words, more than {}", key, words,
                         max_state_words));
    w.sampler_state.resize(static_cast<std::size_t>(words));
    for (auto& word : w.sampler_state)
      word = r.get<std::uint64_t>();
    w.rng = read_rng(r);
    const auto d = r.count(sizeof(float));
    w.residual.resize(static_cast<std::size_t>(d));
    r.floats(w.residual.data(), d);
    if (!workers.emplace(key, std::move(w)).second)
      r.fail(fmt::format("holds worker {} twice", key));
  }
  r.finish();
  return workers;
}

std::string body_of(const checkpoint& ckpt) {
  std::ostringstream out;
  {
    cereal::PortableBinaryOutputArchive ar{out};
    ar(ckpt.spec, ckpt.version);
    std::vector<std::pair<const char*, std::string>> sections = {
        {"model", vector_section(ckpt.model)},
        {"server_residual", vector_section(ckpt.server_residual)},
        {"momentum", vector_section(ckpt.momentum)},
        {"server_rng", rng_section(ckpt.server_rng)},
        {"membership", membership_section(ckpt.members)},
        {"workers", workers_section(ckpt.workers)},
        {"push_norms", norms_section(ckpt.push_norms)},
        {"push_norm_peak", number_section(ckpt.push_norm_peak)}};
    // Only sharded runs write these: an unsharded file is what it always was.
    if (ckpt.shards)
      sections.emplace_back("shards", shards_section(*ckpt.shards));
    if (ckpt.slice)
      sections.emplace_back("slice", slice_section(*ckpt.slice));
    ar(static_cast<std::uint32_t>(sections.size()));
    for (const auto& [name, bytes] : sections)
      ar(std::string{name}, bytes);
  }
  return out.str();
}

void read_body(const std::string& body, std::uint32_t format, checkpoint& ckpt) {
  std::istringstream in{body};
  cereal::PortableBinaryInputArchive ar{in};
  ar(ckpt.spec, ckpt.version);
  std::uint32_t count = 0;
  ar(count);
  std::set<std::string> seen;
  for (std::uint32_t k = 0; k < count; ++k) {
    std::string name, bytes;
    ar(name, bytes);
    if (!seen.insert(name).second)
      throw std::runtime_error("section '" + name + "' appears twice");
    if (name == "model") {
      ckpt.model = read_vector_section(name, bytes);
    } else if (name == "server_residual") {
      ckpt.server_residual = read_vector_section(name, bytes);
    } else if (name == "momentum") {
      ckpt.momentum = read_vector_section(name, bytes);
    } else if (name == "server_rng") {
      ckpt.server_rng = read_rng_section(bytes);
    } else if (name == "membership") {
      ckpt.members = read_membership_section(bytes);
    } else if (name == "workers") {
      ckpt.workers = read_workers_section(bytes, ckpt.version, format);
    } else if (name == "push_norms") {
      ckpt.push_norms = read_norms_section(bytes);
    } else if (name == "push_norm_peak") {
      ckpt.push_norm_peak = read_norm_section(name, bytes);
    } else if (name == "shards") {
      ckpt.shards = read_shards_section(bytes);
    } else if (name == "slice") {
      ckpt.slice = read_slice_section(bytes);
    } else if (name == "push_losses") {
      // Written by dsq before the divergence probe, which needs no history: nothing to restore.
    } else {
      throw std::runtime_error("unknown section '" + name +
                               "' (written by a newer version of dsq?)");
    }
  }
  for (const char* required : {"model", "server_rng", "membership"})
    if (seen.count(required) == 0)
      throw std::runtime_error(std::string{"no "} + required + " section");
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

std::uint32_t write_checkpoint_file(const std::filesystem::path& path, const checkpoint& ckpt) {
  std::error_code ec;
  const auto dir = path.parent_path();
  if (!dir.empty())
    std::filesystem::create_directories(dir, ec);
  if (ec)
    throw std::runtime_error(
        fmt::format("cannot write checkpoint directory '{}': {}", dir.string(), ec.message()));
  const auto body = body_of(ckpt);
  std::string file;
  file.reserve(header_size + body.size() + crc_size);
  put_u32(file, magic);
  put_u32(file, format_version);
  put_u64(file, body.size());
  file += body;
  const auto crc = crc32(file.data(), file.size());
  put_u32(file, crc);
  write_file_atomically(path, file, "checkpoint");
  return crc;
}

void write_checkpoint(const std::string& dir, const checkpoint& ckpt) {
  write_checkpoint_file(file_in(dir), ckpt);
}

checkpoint read_checkpoint(const std::string& dir) {
  const auto path = file_in(dir);
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    throw std::runtime_error("no checkpoint at '" + path.string() + "'");
  return read_checkpoint_file(path);
}

checkpoint read_checkpoint_file(const std::filesystem::path& path, std::uint32_t* digest) {
  auto fail = [&](const std::string& problem) {
    throw std::runtime_error("checkpoint '" + path.string() + "': " + problem);
  };
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    fail("no such file");
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
  if (format < 3)
    fail(fmt::format("checkpoint format {} was written by an older version of dsq; this version "
                     "reads formats 3 to {} (they also keep the random streams and the workers' "
                     "states)",
                     format, format_version));
  if (format > format_version)
    fail(fmt::format("checkpoint format {}, this version of dsq reads format {}", format,
                     format_version));
  checkpoint ckpt;
  try {
    read_body(file.substr(header_size, body_size), format, ckpt);
  } catch (const cereal::Exception& e) {
    fail(std::string{"malformed content: "} + e.what());
  } catch (const std::runtime_error& e) {
    fail(e.what());
  }
  auto sized = [&](const Eigen::VectorXf& v, std::uint64_t n) {
    return v.size() == 0 || static_cast<std::uint64_t>(v.size()) == n;
  };
  const auto d = static_cast<std::uint64_t>(ckpt.model.size());
  // A sharded leader keeps range 0's residual; the model and momentum are whole.
  const auto residual_size = ckpt.shards ? ckpt.shards->ranges.front().size() : d;
  if (!sized(ckpt.server_residual, residual_size) || !sized(ckpt.momentum, d))
    fail("vector sizes disagree");
  if (ckpt.shards && ckpt.shards->ranges.back().end != d)
    fail(fmt::format("its shards cover {} coordinates, its model has {}",
                     ckpt.shards->ranges.back().end, d));
  if (ckpt.slice && ckpt.slice->range.size() != d)
    fail(fmt::format("its slice is a range of {} coordinates, its model has {}",
                     ckpt.slice->range.size(), d));
  for (const auto& [id, w] : ckpt.workers)
    if (!w.residual.empty() && w.residual.size() != static_cast<std::size_t>(ckpt.model.size()))
      fail(fmt::format("worker {}'s residual has {} values, the model {} parameters", id,
                       w.residual.size(), ckpt.model.size()));
  if (digest)
    *digest = stored;
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
