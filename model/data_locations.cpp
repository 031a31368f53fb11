#include "model/data_locations.hpp"

#include <algorithm>
#include <cstdlib>

#include "model/data_error.hpp"

// Set for this file only by model/CMakeLists.txt; defaults keep it compilable alone.
#ifndef DSQ_INSTALLED_DATA_DIR
#define DSQ_INSTALLED_DATA_DIR ""
#endif
#ifndef DSQ_REPOSITORY_DIR
#define DSQ_REPOSITORY_DIR ""
#endif

namespace dsq {

namespace {

std::filesystem::path from_environment(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? std::filesystem::path(value) : std::filesystem::path();
}

} // namespace

std::vector<std::filesystem::path> data_locations::data_roots() const {
  std::vector<std::filesystem::path> roots;
  for (const auto& root :
       {data_dir, installed_dir, repository.empty() ? repository : repository / "data"})
    if (!root.empty() && std::find(roots.begin(), roots.end(), root) == roots.end())
      roots.push_back(root);
  return roots;
}

data_locations default_data_locations(const std::filesystem::path& data_dir) {
  data_locations where;
  where.data_dir = data_dir.empty() ? from_environment("DSQ_DATA_DIR") : data_dir;
  where.installed_dir = DSQ_INSTALLED_DATA_DIR;
  where.repository = from_environment("DSQ_SOURCE_DIR");
  if (where.repository.empty())
    where.repository = DSQ_REPOSITORY_DIR;
  return where;
}

std::vector<std::filesystem::path> data_path_candidates(const std::filesystem::path& path,
                                                        const data_locations& where) {
  std::vector<std::filesystem::path> candidates{path};
  if (path.is_absolute() || path.empty())
    return candidates;
  for (const auto& root : where.data_roots())
    if (auto candidate = root / path;
        std::find(candidates.begin(), candidates.end(), candidate) == candidates.end())
      candidates.push_back(std::move(candidate));
  return candidates;
}

std::filesystem::path find_data_file(const std::filesystem::path& path,
                                     const data_locations& where) {
  const auto candidates = data_path_candidates(path, where);
  std::error_code ec;
  for (const auto& candidate : candidates)
    if (std::filesystem::exists(candidate, ec))
      return candidate;
  if (candidates.size() == 1)
    throw data_error(path, "file not found");
  throw data_error(path, "file not found (looked in: " + join_paths(candidates) +
                             "; --data-dir=DIR or DSQ_DATA_DIR adds a directory)");
}

std::string join_paths(const std::vector<std::filesystem::path>& paths) {
  std::string joined;
  for (const auto& p : paths)
    joined += (joined.empty() ? "" : ", ") + p.string();
  return joined.empty() ? "nothing" : joined;
}

} // namespace dsq
