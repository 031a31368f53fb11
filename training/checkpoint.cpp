#include "training/checkpoint.hpp"

#include <cereal/archives/portable_binary.hpp>
#include <cereal/types/string.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace dsq {

namespace {

constexpr std::uint32_t magic = 0x4453514b; // "DSQK"
constexpr std::uint32_t format_version = 1;

template <class Archive>
void save_vector(Archive& ar, const Eigen::VectorXf& v) {
  ar(static_cast<std::uint64_t>(v.size()));
  ar(cereal::binary_data(v.data(), sizeof(float) * static_cast<std::size_t>(v.size())));
}

template <class Archive>
void load_vector(Archive& ar, Eigen::VectorXf& v, std::uint64_t limit, std::uint64_t left) {
  std::uint64_t n = 0;
  ar(n);
  if (n > limit || n * sizeof(float) > left)
    throw std::runtime_error("vector length " + std::to_string(n) + " does not fit the file");
  v.resize(static_cast<Eigen::Index>(n));
  ar(cereal::binary_data(v.data(), sizeof(float) * n));
}

std::filesystem::path file_in(const std::string& dir) {
  return std::filesystem::path{dir} / "server.ckpt";
}

} // namespace

void write_checkpoint(const std::string& dir, const checkpoint& ckpt) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  auto path = file_in(dir);
  auto tmp = path;
  tmp += ".tmp";
  {
    std::ofstream out{tmp, std::ios::binary | std::ios::trunc};
    if (!out)
      throw std::runtime_error("cannot write checkpoint '" + tmp.string() + "'");
    cereal::PortableBinaryOutputArchive ar{out};
    ar(magic, format_version, ckpt.version);
    save_vector(ar, ckpt.model);
    save_vector(ar, ckpt.server_residual);
    save_vector(ar, ckpt.momentum);
    out.flush();
    if (!out)
      throw std::runtime_error("cannot write checkpoint '" + tmp.string() + "'");
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec)
    throw std::runtime_error("cannot rename checkpoint into '" + path.string() +
                             "': " + ec.message());
}

checkpoint read_checkpoint(const std::string& dir) {
  auto path = file_in(dir);
  std::ifstream in{path, std::ios::binary};
  if (!in)
    throw std::runtime_error("no checkpoint at '" + path.string() + "'");
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  checkpoint ckpt;
  try {
    cereal::PortableBinaryInputArchive ar{in};
    std::uint32_t m = 0, v = 0;
    ar(m, v);
    if (m != magic)
      throw std::runtime_error("not a dsq checkpoint");
    if (v != format_version)
      throw std::runtime_error("checkpoint format " + std::to_string(v) + ", expected " +
                               std::to_string(format_version));
    ar(ckpt.version);
    const std::uint64_t limit = std::uint64_t{1} << 32;
    load_vector(ar, ckpt.model, limit, size);
    load_vector(ar, ckpt.server_residual, limit, size);
    load_vector(ar, ckpt.momentum, limit, size);
  } catch (const cereal::Exception& e) {
    throw std::runtime_error("checkpoint '" + path.string() + "' is truncated: " + e.what());
  } catch (const std::runtime_error& e) {
    throw std::runtime_error("checkpoint '" + path.string() + "': " + e.what());
  }
  auto sized = [&](const Eigen::VectorXf& v) {
    return v.size() == 0 || v.size() == ckpt.model.size();
  };
  if (!sized(ckpt.server_residual) || !sized(ckpt.momentum))
    throw std::runtime_error("checkpoint '" + path.string() + "': vector sizes disagree");
  return ckpt;
}

void check_fits(const checkpoint& ckpt, std::size_t dim) {
  if (static_cast<std::size_t>(ckpt.model.size()) != dim)
    throw std::runtime_error("the checkpoint holds " + std::to_string(ckpt.model.size()) +
                             " parameters, the model has " + std::to_string(dim) +
                             " (different model or data?)");
}

} // namespace dsq
