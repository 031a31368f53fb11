#include "training/training_spec.hpp"

#include "config/aggregate_rule.hpp"

#include <fmt/format.h>

#include <algorithm>

#include <map>
#include <utility>
#include <vector>

namespace dsq {

std::string training_spec_text(const run_config& cfg) {
  // fmt's "{}" of a double is the shortest text that reads back to the same value.
  const std::vector<std::pair<const char*, std::string>> options{
      {"model", cfg.model},
      {"dataset", cfg.dataset},
      {"method", cfg.method},
      {"compressor", cfg.compressor},
      {"uplink", cfg.uplink},
      {"downlink", cfg.downlink},
      {"uplink-residual", cfg.uplink_residual},
      {"downlink-residual", cfg.downlink_residual},
      {"seed", fmt::format("{}", cfg.seed)},
      {"batch", fmt::format("{}", cfg.batch)},
      {"lr", fmt::format("{}", cfg.lr)},
      {"lr-schedule", cfg.lr_schedule},
      {"momentum", fmt::format("{}", cfg.momentum)},
      {"shard", cfg.shard},
      {"mode", cfg.mode},
      {"aggregate", to_string(parse_aggregate_rule(cfg.aggregate))},
  };
  std::string text;
  for (const auto& [name, value] : options)
    text += fmt::format("--{}={}\n", name, value);
  return text;
}

namespace {

/// Option name -> value, in the order of the text.
std::vector<std::pair<std::string, std::string>> parse_spec(std::string_view text) {
  std::vector<std::pair<std::string, std::string>> options;
  while (!text.empty()) {
    auto end = text.find('\n');
    auto line = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    if (line.empty())
      continue;
    auto eq = line.find('=');
    options.emplace_back(std::string{line.substr(0, eq)}, eq == std::string_view::npos
                                                              ? std::string{}
                                                              : std::string{line.substr(eq + 1)});
  }
  return options;
}

} // namespace

std::string training_spec_differences(std::string_view checkpoint_spec, std::string_view run_spec) {
  auto written = parse_spec(checkpoint_spec);
  // Checkpoints from before --aggregate existed were all written by the mean.
  if (std::none_of(written.begin(), written.end(),
                   [](const auto& o) { return o.first == "--aggregate"; }))
    written.emplace_back("--aggregate", "mean");
  const auto current = parse_spec(run_spec);
  const std::map<std::string, std::string> written_map(written.begin(), written.end());
  const std::map<std::string, std::string> current_map(current.begin(), current.end());
  std::string differences;
  auto add = [&](const std::string& clause) {
    differences += (differences.empty() ? "" : "; ") + clause;
  };
  for (const auto& [name, value] : current) {
    auto it = written_map.find(name);
    if (it == written_map.end())
      add(fmt::format("checkpoint does not record {}, this run has {}={}", name, name, value));
    else if (it->second != value)
      add(fmt::format("checkpoint was written with {}={}, this run has {}={}", name, it->second,
                      name, value));
  }
  for (const auto& [name, value] : written)
    if (current_map.count(name) == 0)
      add(fmt::format("checkpoint was written with {}={}, which this version does not know", name,
                      value));
  return differences;
}

} // namespace dsq
