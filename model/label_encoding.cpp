#include "model/label_encoding.hpp"

#include <algorithm>
#include <map>
#include <type_traits>

#include "base/parse_number.hpp"

namespace dsq {

namespace {

std::vector<std::int32_t> encode(std::initializer_list<dataset*> sets) {
  std::vector<std::int32_t> values;
  for (auto* set : sets)
    values.insert(values.end(), set->labels.begin(), set->labels.end());
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
  for (auto* set : sets) {
    for (auto& label : set->labels)
      label = static_cast<std::int32_t>(std::lower_bound(values.begin(), values.end(), label) -
                                        values.begin());
    set->num_classes = static_cast<int>(values.size());
  }
  return values;
}

// The classes in order, each with the spellings that denote it: "1" and "+1" and "1.0" are
// one number, while names are compared as written.
template <class Key>
class_names assign(std::initializer_list<labelled_part> parts, bool numeric, Key key_of) {
  std::map<decltype(key_of(std::string{})), std::string> classes;
  for (const auto& part : parts)
    for (const auto& spelling : part.written.spellings())
      classes.emplace(key_of(spelling), spelling);
  class_names result;
  result.numeric = numeric;
  for (const auto& [key, spelling] : classes) {
    if constexpr (std::is_arithmetic_v<std::decay_t<decltype(key)>>)
      result.names.push_back(std::to_string(key)); // "+1" and "1.0" are both the class "1"
    else
      result.names.push_back(spelling);
  }
  for (const auto& part : parts) {
    std::vector<std::int32_t> class_of_spelling;
    for (const auto& spelling : part.written.spellings())
      class_of_spelling.push_back(static_cast<std::int32_t>(
          std::distance(classes.begin(), classes.find(key_of(spelling)))));
    part.data.labels.clear();
    part.data.labels.reserve(part.written.of_sample().size());
    for (auto index : part.written.of_sample())
      part.data.labels.push_back(class_of_spelling[index]);
    part.data.num_classes = static_cast<int>(classes.size());
  }
  return result;
}

} // namespace

std::vector<std::int32_t> encode_labels(dataset& data) {
  return encode({&data});
}

std::vector<std::int32_t> encode_labels(dataset& train, dataset& test) {
  return encode({&train, &test});
}

void written_labels::add(std::string_view spelling) {
  auto [it, inserted] =
      index_.try_emplace(std::string(spelling), static_cast<std::uint32_t>(spellings_.size()));
  if (inserted)
    spellings_.emplace_back(spelling);
  of_sample_.push_back(it->second);
}

class_names encode_written_labels(std::initializer_list<labelled_part> parts) {
  bool numeric = true;
  for (const auto& part : parts)
    for (const auto& spelling : part.written.spellings())
      numeric = numeric && parse_number<std::int32_t>(spelling).value.has_value();
  if (numeric)
    return assign(parts, true, [](const std::string& s) { return *parse_number<std::int32_t>(s); });
  return assign(parts, false, [](const std::string& s) { return s; });
}

} // namespace dsq
