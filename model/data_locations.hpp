#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace dsq {

// Where data named by a relative path is looked for. One order for every data file and for
// MNIST, so that a process started outside the repository (a worker on another host, a run
// from $HOME) finds the same files as one started inside it:
//
//   1. the path as given, relative to the working directory;
//   2. under the data directory: --data-dir, else $DSQ_DATA_DIR;
//   3. under the installed data directory (DSQ_INSTALLED_DATA_DIR at build time; none if empty);
//   4. under the repository's data/ ($DSQ_SOURCE_DIR, else the source tree this was built from),
//      where scripts/setup.sh puts MNIST.
//
// An absolute path is only ever itself. Nothing here reads files: the readers decide.

/// The directories searched after the working directory; an empty path is skipped.
struct data_locations {
  std::filesystem::path data_dir;      ///< --data-dir, else $DSQ_DATA_DIR
  std::filesystem::path installed_dir; ///< the data directory of an installation
  std::filesystem::path repository;    ///< the source tree, whose data/ setup.sh fills

  /// The directories that stand in for data/ (steps 2-4), in order, without repeats.
  std::vector<std::filesystem::path> data_roots() const;
};

/// This process's locations: `data_dir` if not empty, else $DSQ_DATA_DIR; the installed data
/// directory compiled in (DSQ_INSTALLED_DATA_DIR); $DSQ_SOURCE_DIR, else the source directory
/// compiled in (DSQ_REPOSITORY_DIR).
data_locations default_data_locations(const std::filesystem::path& data_dir = {});

/// Where a data path is looked for, in order: `path` itself, then `root / path` for each of
/// where.data_roots(). An absolute path is the only candidate.
std::vector<std::filesystem::path> data_path_candidates(const std::filesystem::path& path,
                                                        const data_locations& where);

/// The first of data_path_candidates() that exists; throws dsq::data_error "file not found
/// (looked in: ...)" naming `path`, every candidate and the options that add a directory.
std::filesystem::path find_data_file(const std::filesystem::path& path,
                                     const data_locations& where);

/// "a, b, c": the candidates as a message lists them.
std::string join_paths(const std::vector<std::filesystem::path>& paths);

} // namespace dsq
