#include "training/faults/fault_log.hpp"

#include <fmt/format.h>

#include <numeric>
#include <stdexcept>

namespace dsq {

namespace {

constexpr std::string_view fault_log_header = "wall_s,step,kind,link\n";

} // namespace

std::string_view name(fault_kind kind) {
  switch (kind) {
  case fault_kind::drop:
    return "drop";
  case fault_kind::duplicate:
    return "duplicate";
  case fault_kind::reorder:
    return "reorder";
  case fault_kind::crash:
    return "crash";
  case fault_kind::hang:
    return "hang";
  case fault_kind::rejoin:
    return "rejoin";
  case fault_kind::corrupt:
    return "corrupt";
  case fault_kind::poison:
    return "poison";
  case fault_kind::server_crash:
    return "server-crash";
  }
  return "?";
}

fault_log::fault_log(const std::string& path) {
  if (path.empty())
    return;
  csv_ = output_file{path, output_file::mode::truncate, "fault log"};
  write(fault_log_header);
}

void fault_log::record(double wall_s, std::uint64_t step, fault_kind kind, std::string_view where) {
  if (where.find_first_of(",\"\r\n") != std::string_view::npos)
    throw std::invalid_argument(fmt::format("fault log: '{}' cannot be a CSV cell", where));
  ++counts_[static_cast<std::size_t>(kind)];
  if (csv_.is_open() || !failure_.empty())
    write(fmt::format("{:.6f},{},{},{}\n", wall_s, step, name(kind), where));
}

void fault_log::sync() {
  if (!failure_.empty())
    throw std::runtime_error(failure_);
  if (!csv_.is_open())
    return;
  try {
    csv_.sync();
  } catch (const std::runtime_error& e) {
    failure_ = e.what();
    throw;
  }
}

void fault_log::write(std::string_view bytes) {
  if (!failure_.empty())
    throw std::runtime_error(failure_);
  try {
    csv_.write(bytes);
  } catch (const std::runtime_error& e) {
    failure_ = e.what();
    throw;
  }
}

std::uint64_t fault_log::total() const {
  return std::accumulate(counts_.begin(), counts_.end(), std::uint64_t{0});
}

std::map<std::string, std::uint64_t> fault_log::counts() const {
  std::map<std::string, std::uint64_t> result;
  for (std::size_t k = 0; k < fault_kind_count; ++k)
    if (counts_[k] > 0)
      result.emplace(name(static_cast<fault_kind>(k)), counts_[k]);
  return result;
}

std::string fault_log::counts_json() const {
  std::string json = "{";
  for (const auto& [kind, count] : counts())
    json += fmt::format("{}\"{}\": {}", json.size() > 1 ? ", " : "", kind, count);
  return json + "}";
}

} // namespace dsq
