#pragma once

// Certificates for the multi-process tests that run over TLS (test_tls, test_netns,
// test_shards): a CA and certificates made by scripts/make-certs.sh, and the options that
// name them.

#include "system_support.hpp"

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace dsq::system_test {

/// The source tree (CTest sets DSQ_SOURCE_DIR).
inline std::string source_dir() {
  const char* dir = std::getenv("DSQ_SOURCE_DIR");
  BOOST_REQUIRE_MESSAGE(dir != nullptr, "DSQ_SOURCE_DIR is not set (CTest sets it)");
  return dir;
}

/// A CA and certificates for a server named `server_name` and `workers` workers in `dir`
/// (scripts/make-certs.sh: server.pem/.key, worker-I.pem/.key, ca.pem).
inline void make_certs(cluster& c, const std::string& dir, int workers,
                       const std::string& server_name = "localhost") {
  auto& script = c.start(
      "make-certs-" + std::filesystem::path{dir}.filename().string(),
      {"bash", source_dir() + "/scripts/make-certs.sh", dir, std::to_string(workers), server_name});
  auto s = script.wait_for(std::chrono::seconds{60});
  BOOST_REQUIRE_MESSAGE(s && s->success(), "make-certs.sh failed:\n" << script.report());
}

/// The TLS options of node `name` (server, worker-1, ...) whose files are in `dir`, trusting
/// the CA of `ca_dir`.
inline std::vector<std::string> tls_options(const std::string& dir, const std::string& name,
                                            const std::string& ca_dir) {
  return {"--tls-cert=" + dir + "/" + name + ".pem", "--tls-key=" + dir + "/" + name + ".key",
          "--tls-ca=" + ca_dir + "/ca.pem"};
}

/// The TLS options of node `name`, trusting the CA of the same directory.
inline std::vector<std::string> tls_options(const std::string& dir, const std::string& name) {
  return tls_options(dir, name, dir);
}

} // namespace dsq::system_test
