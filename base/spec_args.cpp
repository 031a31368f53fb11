#include <dsq/spec_args.hpp>

#include "base/keyed_spec.hpp"

#include <algorithm>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace dsq {

// The public face of keyed_spec, which also remembers which keys a factory has read.
class detail::spec_args_impl {
public:
  spec_args_impl(std::string_view text, std::string_view kind) : spec(text, kind) {}

  keyed_spec spec;
  mutable std::set<std::string, std::less<>> read;

  const keyed_spec& note(std::string_view key) const {
    read.emplace(key);
    return spec;
  }
};

spec_args::spec_args(std::string_view text, std::string_view kind)
    : impl_(std::make_unique<detail::spec_args_impl>(text, kind)) {}
spec_args::~spec_args() = default;
spec_args::spec_args(spec_args&&) noexcept = default;
spec_args& spec_args::operator=(spec_args&&) noexcept = default;

const std::string& spec_args::name() const {
  return impl_->spec.name();
}
const std::string& spec_args::text() const {
  return impl_->spec.text();
}

bool spec_args::has(std::string_view key) const {
  return impl_->note(key).take(key).has_value();
}

std::optional<std::string> spec_args::text_of(std::string_view key) const {
  return impl_->note(key).take(key);
}

double spec_args::number(std::string_view key, double fallback) const {
  return impl_->note(key).take_double(key).value_or(fallback);
}

double spec_args::number(std::string_view key) const {
  impl_->note(key).require(key);
  return *impl_->spec.take_double(key);
}

std::uint64_t spec_args::count(std::string_view key, std::uint64_t fallback) const {
  return impl_->note(key).take_unsigned(key).value_or(fallback);
}

std::uint64_t spec_args::count(std::string_view key) const {
  impl_->note(key).require(key);
  return *impl_->spec.take_unsigned(key);
}

std::vector<std::uint64_t> spec_args::counts(std::string_view key,
                                             std::vector<std::uint64_t> fallback) const {
  auto values = impl_->note(key).take_unsigned_list(key);
  return values ? std::move(*values) : std::move(fallback);
}

void spec_args::reject_unread() const {
  std::vector<std::string> unread;
  for (const auto& key : impl_->spec.keys())
    if (!impl_->read.contains(key))
      unread.push_back("'" + key + "'");
  if (unread.empty())
    return;
  std::vector<std::string> read(impl_->read.begin(), impl_->read.end());
  throw spec_error(impl_->spec.error_message(
      fmt::format("unknown parameter{} {} for '{}' (it reads: {})", unread.size() > 1 ? "s" : "",
                  fmt::join(unread, ", "), name(),
                  read.empty() ? "none" : fmt::format("{}", fmt::join(read, ", ")))));
}

std::string spec_args::error(std::string_view problem) const {
  return impl_->spec.error_message(problem);
}

} // namespace dsq
