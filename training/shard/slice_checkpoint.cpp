#include "training/shard/slice_checkpoint.hpp"

#include <fmt/format.h>

#include <charconv>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <system_error>
#include <vector>

namespace dsq {

namespace {

/// The step of `name` if it is shard `shard`'s slice file.
std::optional<std::uint64_t> step_of(std::string_view name, std::uint32_t shard) {
  const auto prefix = fmt::format("shard-{}-step-", shard);
  constexpr std::string_view suffix = ".ckpt";
  if (name.size() <= prefix.size() + suffix.size() || !name.starts_with(prefix) ||
      !name.ends_with(suffix))
    return std::nullopt;
  const auto digits = name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
  std::uint64_t step = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), step);
  if (ec != std::errc{} || end != digits.data() + digits.size())
    return std::nullopt;
  return step;
}

} // namespace

std::filesystem::path slice_file(const std::string& dir, std::uint32_t shard,
                                 std::uint64_t version) {
  return std::filesystem::path{dir} / fmt::format("shard-{}-step-{}.ckpt", shard, version);
}

std::uint32_t write_slice_checkpoint(const std::string& dir, const checkpoint& state,
                                     std::uint64_t keep) {
  if (!state.slice)
    throw std::invalid_argument("write_slice_checkpoint: the state names no slice");
  const auto shard = state.slice->shard;
  const auto digest = write_checkpoint_file(slice_file(dir, shard, state.version), state);
  // Older steps: the leader's newest complete checkpoint is `keep` or later, so no checkpoint
  // names them any more. A file that cannot be removed is left (it costs space, not state).
  std::error_code ec;
  std::vector<std::filesystem::path> old;
  for (const auto& entry : std::filesystem::directory_iterator{dir, ec}) {
    const auto step = step_of(entry.path().filename().string(), shard);
    if (step && *step < keep && *step != state.version)
      old.push_back(entry.path());
  }
  for (const auto& path : old)
    std::filesystem::remove(path, ec);
  return digest;
}

checkpoint read_slice_checkpoint(const std::string& dir, const slice_expectation& want) {
  const auto path = slice_file(dir, want.shard, want.version);
  const auto fix = fmt::format("start shard {} with --resume=DIR naming the directory its "
                               "--checkpoint wrote in the run the leader resumes",
                               want.shard);
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    throw std::runtime_error(
        fmt::format("no slice file '{}' of step {} (the step the leader's checkpoint names): {}",
                    path.string(), want.version, fix));
  std::uint32_t digest = 0;
  checkpoint state;
  try {
    state = read_checkpoint_file(path, &digest);
  } catch (const std::exception& e) {
    throw std::runtime_error(fmt::format("{}: {}", e.what(), fix));
  }
  auto refuse = [&](const std::string& problem) {
    throw std::runtime_error(fmt::format("slice file '{}' {}: {}", path.string(), problem, fix));
  };
  if (!state.slice)
    refuse("is no follower's slice file");
  if (state.slice->shard != want.shard || state.slice->shards != want.shards)
    refuse(fmt::format("holds shard {} of {}, not shard {} of {}", state.slice->shard,
                       state.slice->shards, want.shard, want.shards));
  if (!(state.slice->range == want.range))
    refuse(fmt::format("holds the range [{}, {}), the leader's run [{}, {})",
                       state.slice->range.begin, state.slice->range.end, want.range.begin,
                       want.range.end));
  if (state.version != want.version)
    refuse(
        fmt::format("holds step {}, the leader's checkpoint step {}", state.version, want.version));
  if (digest != want.digest)
    refuse(fmt::format("has digest 0x{:08x}, the leader's checkpoint names 0x{:08x} (a file of "
                       "another run)",
                       digest, want.digest));
  return state;
}

} // namespace dsq
