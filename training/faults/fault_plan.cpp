#include "training/faults/fault_plan.hpp"

#include "base/parse_number.hpp"
#include "base/random.hpp"
#include "base/trim.hpp"
#include "config/fault_options.hpp"
#include "config/run_config.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <set>

namespace dsq {

namespace {

/// Where the streams of a follower shard's links start (link_faults): apart from shard 0's,
/// which are the unsharded run's.
constexpr std::uint64_t shard_link_stream = 0x5A'4A'2D'00'00'00'00'00ull;

/// Reads one `faults` entry; every error names the option as the user wrote it.
class entry_reader {
public:
  entry_reader(std::string_view key, std::string_view value) : key_(key), value_(value) {}

  /// Throws "--faults.<key>=<value>: <problem>".
  [[noreturn]] void fail(std::string_view problem) const {
    throw config_error(fmt::format("--faults.{}={}: {}", key_, value_, problem));
  }

  /// `text` as a T, or an error quoting it ("'abc' is not a number").
  template <class T>
  T number(std::string_view text, std::string_view what = {}) const {
    const auto parsed = parse_number<T>(trim(text));
    if (!parsed)
      fail(fmt::format("{}'{}' {}", what.empty() ? "" : std::string{what} + " ", trim(text),
                       parsed.problem));
    return *parsed;
  }

  /// The value as a probability in [0, 1].
  double probability() const {
    const auto p = number<double>(value_);
    if (!(p >= 0 && p <= 1))
      fail("a probability must be from 0 to 1");
    return p;
  }

  /// The value as a finite time of 0 or more.
  double milliseconds() const {
    const auto ms = number<double>(value_);
    if (ms < 0)
      fail("a time must be 0 or more");
    return ms;
  }

  /// The comma-separated items of the value, blanks trimmed; an empty item is an error.
  std::vector<std::string_view> items() const {
    std::vector<std::string_view> result;
    std::string_view rest = value_;
    for (;;) {
      const auto comma = rest.find(',');
      const auto item = trim(rest.substr(0, comma));
      if (item.empty())
        fail("has an empty item");
      result.push_back(item);
      if (comma == std::string_view::npos)
        return result;
      rest.remove_prefix(comma + 1);
    }
  }

  /// "ID@STEP[,...]"; with `with_seconds`, "ID@STEP[:SECONDS][,...]".
  std::vector<worker_fault> worker_faults(bool with_seconds) const {
    std::vector<worker_fault> faults;
    for (const auto item : items()) {
      const auto at = item.find('@');
      if (at == std::string_view::npos)
        fail(fmt::format("'{}' is not {}", item, with_seconds ? "ID@STEP[:SECONDS]" : "ID@STEP"));
      worker_fault fault;
      fault.worker = number<std::uint32_t>(item.substr(0, at), "worker id");
      auto step = item.substr(at + 1);
      if (const auto colon = step.find(':'); with_seconds && colon != std::string_view::npos) {
        const auto seconds = number<double>(step.substr(colon + 1), "seconds");
        if (seconds < 0)
          fail(fmt::format("'{}': a time must be 0 or more", item));
        fault.seconds = seconds;
        step = step.substr(0, colon);
      }
      fault.step = number<std::uint64_t>(step, "step");
      faults.push_back(fault);
    }
    return faults;
  }

  /// The value as the links the message faults apply to.
  void links(fault_plan& plan) const {
    if (trim(value_).empty()) // as if not given: every link
      return;
    bool up = false, down = false;
    for (const auto item : items()) {
      if (item == "up")
        up = true;
      else if (item == "down")
        down = true;
      else if (const auto id = parse_number<std::uint32_t>(item))
        plan.link_workers.push_back(*id);
      else
        fail(fmt::format("'{}' is neither a worker id nor up or down", item));
    }
    // Naming no direction means both, as naming no worker means all.
    plan.up = up || !down;
    plan.down = down || !up;
  }

private:
  std::string key_, value_;
};

/// The `faults` options in the order --help lists them, with the value of each that differs
/// from its default. Doubles are written in their shortest exact form, so nothing is lost.
std::vector<std::pair<std::string, std::string>> given(const fault_options& o) {
  std::vector<std::pair<std::string, std::string>> entries;
  const auto number = [&](const char* key, double value) {
    if (value != 0 || std::signbit(value))
      entries.emplace_back(key, fmt::format("{}", value));
  };
  const auto text = [&](const char* key, const std::string& value) {
    if (!value.empty())
      entries.emplace_back(key, value);
  };
  number("drop", o.drop);
  number("duplicate", o.duplicate);
  number("reorder", o.reorder);
  number("delay", o.delay_ms);
  number("jitter", o.jitter_ms);
  text("bandwidth", o.bandwidth);
  text("links", o.links);
  text("crash", o.crash);
  text("hang", o.hang);
  text("rejoin", o.rejoin);
  text("corrupt", o.corrupt);
  text("poison", o.poison);
  text("server-crash", o.server_crash);
  entries.emplace_back("seed", std::to_string(o.seed));
  return entries;
}

/// A uniform double in [0, 1) from the top 53 bits of one draw: defined by the bits alone, unlike
/// std::uniform_real_distribution, whose output differs between standard libraries.
double unit_interval(rng_engine& engine) {
  return static_cast<double>(engine() >> 11) * 0x1.0p-53;
}

} // namespace

std::string to_string(link_id link) {
  const auto* d = link.direction == link_direction::up ? "up" : "down";
  if (link.shard == 0)
    return fmt::format("{}/{}", link.worker, d);
  return fmt::format("{}/{}/shard{}", link.worker, d, link.shard);
}

bool fault_plan::covers(link_id link) const {
  if (!(link.direction == link_direction::up ? up : down))
    return false;
  return link_workers.empty() ||
         std::find(link_workers.begin(), link_workers.end(), link.worker) != link_workers.end();
}

bool fault_plan::has_message_faults() const {
  return drop > 0 || duplicate > 0 || reorder > 0 || delay_ms > 0 || jitter_ms > 0 ||
         bandwidth_bytes_per_s > 0;
}

bool fault_plan::has_link_worker_faults() const {
  return !crash.empty() || !hang.empty() || !corrupt.empty() || !poison.empty();
}

bool fault_plan::empty() const {
  return !has_message_faults() && !has_link_worker_faults() && rejoin.empty() && !server_crash;
}

double parse_bandwidth(std::string_view text, std::string_view option) {
  // Decimal prefixes, as network rates are quoted; a bit is 1/8 byte.
  static constexpr std::array<std::pair<std::string_view, double>, 6> units{{{"kbit", 1e3 / 8},
                                                                             {"Mbit", 1e6 / 8},
                                                                             {"Gbit", 1e9 / 8},
                                                                             {"kB", 1e3},
                                                                             {"MB", 1e6},
                                                                             {"GB", 1e9}}};
  const auto error = [&](std::string_view problem) {
    return config_error(fmt::format("{}={}: {}", option, text, problem));
  };
  const auto trimmed = trim(text);
  for (const auto& [unit, bytes] : units) {
    if (!trimmed.ends_with(unit))
      continue;
    const auto amount = trim(trimmed.substr(0, trimmed.size() - unit.size()));
    const auto parsed = parse_number<double>(amount);
    if (!parsed)
      throw error(fmt::format("'{}' {}", amount, parsed.problem));
    if (!(*parsed > 0))
      throw error("the rate must be positive");
    const double rate = *parsed * bytes;
    if (!std::isfinite(rate))
      throw error("the rate is too large");
    return rate;
  }
  throw error("expected a number and a unit per second: kbit, Mbit, Gbit, kB, MB or GB");
}

fault_plan parse_fault_plan(const std::vector<std::pair<std::string, std::string>>& entries) {
  fault_plan plan;
  std::set<std::string> seen;
  for (const auto& [key, value] : entries) {
    const entry_reader in{key, value};
    if (!seen.insert(key).second)
      in.fail("given twice");
    if (key == "drop")
      plan.drop = in.probability();
    else if (key == "duplicate")
      plan.duplicate = in.probability();
    else if (key == "reorder")
      plan.reorder = in.probability();
    else if (key == "delay")
      plan.delay_ms = in.milliseconds();
    else if (key == "jitter")
      plan.jitter_ms = in.milliseconds();
    else if (key == "bandwidth")
      plan.bandwidth_bytes_per_s = parse_bandwidth(value, "--faults.bandwidth");
    else if (key == "links")
      in.links(plan);
    else if (key == "crash")
      plan.crash = in.worker_faults(false);
    else if (key == "hang")
      plan.hang = in.worker_faults(true);
    else if (key == "rejoin")
      plan.rejoin = in.worker_faults(false);
    else if (key == "corrupt")
      plan.corrupt = in.worker_faults(false);
    else if (key == "poison")
      plan.poison = in.worker_faults(false);
    else if (key == "server-crash")
      plan.server_crash = in.number<std::uint64_t>(value, "step");
    else if (key == "seed")
      plan.seed = in.number<std::uint64_t>(value);
    else
      in.fail("unknown fault (known: drop, duplicate, reorder, delay, jitter, bandwidth, links, "
              "crash, hang, rejoin, corrupt, poison, server-crash, seed)");
  }
  // One draw decides between the three, so each has exactly its probability.
  if (const double sum = plan.drop + plan.duplicate + plan.reorder; sum > 1)
    throw config_error(fmt::format("--faults.drop, --faults.duplicate and --faults.reorder sum to "
                                   "{:g}: a message suffers at most one of them, so at most 1",
                                   sum));
  return plan;
}

fault_plan make_fault_plan(const fault_options& options) {
  return parse_fault_plan(given(options));
}

std::string_view name(message_action action) {
  switch (action) {
  case message_action::deliver:
    return "deliver";
  case message_action::drop:
    return "drop";
  case message_action::duplicate:
    return "duplicate";
  case message_action::hold:
    return "reorder";
  }
  return "?";
}

link_faults::link_faults(const fault_plan& plan, link_id link)
    : drop_(plan.drop), duplicate_(plan.duplicate), reorder_(plan.reorder),
      delay_ms_(plan.delay_ms), jitter_ms_(plan.jitter_ms), bandwidth_(plan.bandwidth_bytes_per_s),
      // Each link and direction its own stream, so that links do not share decisions; a
      // follower shard's links (shard k >= 1) draw from a seed of their own, shard 0's (every
      // link of an unsharded run) from the plan's seed as always.
      link_seed_(mix_seed(
          link.shard == 0 ? plan.seed : mix_seed(plan.seed, shard_link_stream + link.shard),
          2 * std::uint64_t{link.worker} + (link.direction == link_direction::down ? 1 : 0))),
      link_(link), active_(plan.covers(link) && plan.has_message_faults()) {}

message_fate link_faults::next(std::size_t bytes) {
  return decide(messages_++, bytes);
}

message_fate link_faults::decide(std::uint64_t index, std::size_t bytes) const {
  if (!active_)
    return {};
  // A fresh engine per message: the fate of message k does not depend on how many draws the
  // earlier ones took, nor on whether they were decided at all.
  rng_engine engine{mix_seed(link_seed_, index)};
  const double u = unit_interval(engine);
  const double jitter = unit_interval(engine) * jitter_ms_;
  message_fate fate;
  if (u < drop_) {
    fate.action = message_action::drop;
    return fate;
  }
  if (u < drop_ + duplicate_)
    fate.action = message_action::duplicate;
  else if (u < drop_ + duplicate_ + reorder_)
    fate.action = message_action::hold;
  fate.delay_ms = delay_ms_ + jitter;
  if (bandwidth_ > 0)
    fate.delay_ms += static_cast<double>(bytes) / bandwidth_ * 1000;
  return fate;
}

} // namespace dsq
