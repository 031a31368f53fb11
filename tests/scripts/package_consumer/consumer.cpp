// What CTest install_package runs: a program built against the installed package only. It uses
// the public headers that exist today (the version, a spec's parameters) and links dsq::dsq.

#include <dsq/dsq.hpp> // the umbrella: every public header

#include <cstdio>
#include <cstring>
#include <string>

int main() {
  // The headers compiled in and the library linked are the same version.
  if (std::strcmp(dsq::version(), DSQ_VERSION_STRING) != 0) {
    std::fprintf(stderr, "headers %s, library %s\n", DSQ_VERSION_STRING, dsq::version());
    return 1;
  }
  const std::string expected = std::to_string(DSQ_VERSION_MAJOR) + "." +
                               std::to_string(DSQ_VERSION_MINOR) + "." +
                               std::to_string(DSQ_VERSION_PATCH);
  if (expected != DSQ_VERSION_STRING) {
    std::fprintf(stderr, "DSQ_VERSION_STRING %s is not %s\n", DSQ_VERSION_STRING, expected.c_str());
    return 1;
  }
  // A spec as a registered factory reads it; a parameter it never read is an error.
  dsq::spec_args args("mine:k=3,typo=1", "compressor");
  const auto k = args.count("k", 1);
  std::string refused;
  try {
    args.reject_unread();
  } catch (const dsq::spec_error& e) {
    refused = e.what();
  }
  if (k != 3 || refused.find("typo") == std::string::npos) {
    std::fprintf(stderr, "spec_args: k=%llu, reject_unread: '%s'\n",
                 static_cast<unsigned long long>(k), refused.c_str());
    return 1;
  }
  std::printf("consumer: dsq %s, k=%llu\n", dsq::version(), static_cast<unsigned long long>(k));
  return 0;
}
