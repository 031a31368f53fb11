// Writes one valid message per operator and option into the directory given as argv[1]: a
// starting corpus that lets the fuzzer spend its time past the header checks.

#include "compression/make_compressor.hpp"
#include "compression/wire.hpp"
#include "user_operators.hpp"

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s corpus-directory\n", argv[0]);
    return 2;
  }
  const std::vector<std::string> specs = {"identity",
                                          "fp16",
                                          "sign",
                                          "sign:block=5",
                                          "topk:k=3",
                                          "randomk:k=3",
                                          "randomk:k=3,unbiased=1,shared_seed=1",
                                          "qsgd:s=1",
                                          "qsgd:s=16",
                                          "qsgd:s=255",
                                          "scaled_sign",
                                          "scaled_sign:gain=2",
                                          "round8:levels=3",
                                          "plain"};
  dsq::test::register_test_operators();
  int written = 0;
  for (const std::size_t d : {0, 1, 7, 70}) {
    std::vector<float> v(d);
    for (std::size_t j = 0; j < d; ++j)
      v[j] = static_cast<float>((j * 7919) % 23) - 11.0f;
    for (const auto& spec : specs) {
      dsq::rng_engine rng{d};
      const auto bytes = dsq::to_bytes(dsq::make_compressor(spec)->compress(v, rng));
      std::ofstream file{std::string{argv[1]} + "/seed-" + std::to_string(written++),
                         std::ios::binary};
      file.write(reinterpret_cast<const char*>(bytes.data()),
                 static_cast<std::streamsize>(bytes.size()));
    }
  }
  return 0;
}
