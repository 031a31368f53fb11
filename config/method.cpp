#include "config/method.hpp"

#include <array>

namespace dsq {

namespace {

struct preset {
  const char* name;
  bool uplink_compressed;
  bool uplink_residual;
  bool downlink_compressed;
  bool downlink_residual;
};

// The table of baselines in docs/algorithm.md.
constexpr std::array<preset, 4> presets{{
    {"sgd", false, false, false, false},
    {"compressed", true, false, true, false},
    {"ef-worker", true, true, false, false},
    {"doublesqueeze", true, true, true, true},
}};

bool parse_switch(const std::string& value, const char* option, bool preset_value) {
  if (value.empty())
    return preset_value;
  if (value == "on" || value == "true" || value == "1")
    return true;
  if (value == "off" || value == "false" || value == "0")
    return false;
  throw config_error(std::string{"--"} + option + "=" + value + ": expected on or off");
}

} // namespace

method_switches resolve_method(const run_config& cfg) {
  const preset* p = nullptr;
  for (const auto& candidate : presets)
    if (cfg.method == candidate.name)
      p = &candidate;
  if (p == nullptr)
    throw config_error("--method=" + cfg.method +
                       ": unknown method (known: sgd, compressed, ef-worker, doublesqueeze)");
  method_switches m;
  m.uplink = !cfg.uplink.empty() ? cfg.uplink : p->uplink_compressed ? cfg.compressor : "identity";
  m.downlink = !cfg.downlink.empty()    ? cfg.downlink
               : p->downlink_compressed ? cfg.compressor
                                        : "identity";
  m.uplink_residual = parse_switch(cfg.uplink_residual, "uplink-residual", p->uplink_residual);
  m.downlink_residual =
      parse_switch(cfg.downlink_residual, "downlink-residual", p->downlink_residual);
  return m;
}

std::string describe(const method_switches& m) {
  return "up=" + m.uplink + (m.uplink_residual ? "+ef" : "") + " down=" + m.downlink +
         (m.downlink_residual ? "+ef" : "");
}

} // namespace dsq
