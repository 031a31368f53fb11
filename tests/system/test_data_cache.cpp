// The data cache (model/data_cache.hpp) across processes: a cache file one dsq process writes
// is what the next one uses, and a damaged one (flipped bytes, truncated, not a cache at all)
// is detected, said on stderr and rebuilt from the IDX files, never trusted: every run trains
// on the same data and ends with the same numbers.

#define BOOST_TEST_MODULE system_data_cache
#include "tests/system/system_support.hpp"

#include <fstream>

namespace {

using namespace dsq::system_test;

struct outcome {
  exit_status status;
  std::string out, err, summary;
};

void append_big_endian(std::string& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((v >> shift) & 0xff));
}

// An MNIST of `count` 4 x 4 images (pixels and labels a fixed function of their index).
void write_idx_pair(const std::filesystem::path& dir, const std::string& stem,
                    std::uint32_t count) {
  std::string images, labels;
  append_big_endian(images, 0x803);
  append_big_endian(images, count);
  append_big_endian(images, 4);
  append_big_endian(images, 4);
  append_big_endian(labels, 0x801);
  append_big_endian(labels, count);
  for (std::uint32_t i = 0; i < count; ++i) {
    const auto label = i % 10;
    labels.push_back(static_cast<char>(label));
    for (std::uint32_t p = 0; p < 16; ++p)
      images.push_back(static_cast<char>((p == label ? 200 : 0) + (i * 7 + p * 13) % 50));
  }
  std::ofstream(dir / (stem + "-images-idx3-ubyte"), std::ios::binary) << images;
  std::ofstream(dir / (stem + "-labels-idx1-ubyte"), std::ios::binary) << labels;
}

struct fixture {
  temp_dir root{"data-cache"};
  std::filesystem::path data = root.path() / "mnist";
  std::filesystem::path cache = root.path() / "cache";

  fixture() {
    std::filesystem::create_directories(data);
    write_idx_pair(data, "train", 200);
    write_idx_pair(data, "t10k", 50);
  }

  /// One `dsq local` on the tiny MNIST with DSQ_CACHE_DIR = `cache`.
  outcome run() const {
    temp_dir logs{"data-cache-run"};
    const auto summary = logs.path() / "summary.json";
    child_process p{{"env", "DSQ_CACHE_DIR=" + cache.string(), dsq_binary(), "local",
                     "--dataset=mnist:dir=" + data.string(), "--model=softmax", "--workers=2",
                     "--steps=20", "--batch=8", "--eval-every=0", "--summary=" + summary.string()},
                    logs.path(),
                    "dsq"};
    auto status = p.wait_for(60s);
    BOOST_REQUIRE_MESSAGE(status.has_value(), "dsq did not end:\n" << p.report());
    BOOST_REQUIRE_MESSAGE(status->success(), p.report());
    std::ifstream in(summary);
    std::stringstream text;
    text << in.rdbuf();
    return {*status, p.out(), p.err(), text.str()};
  }

  /// The one cache file in `cache`.
  std::filesystem::path cache_file() const {
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(cache))
      files.push_back(entry.path());
    BOOST_REQUIRE_EQUAL(files.size(), 1u); // no temporary file left behind either
    return files.front();
  }
};

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// The numbers a run ends with, which the data decides.
std::string results(const outcome& r) {
  return json_value(r.summary, "final_train_loss").value_or("?") + " " +
         json_value(r.summary, "test_loss").value_or("?");
}

/// A run after the cache file was damaged says so, rebuilds it and ends as the first run did;
/// the run after it uses the rebuilt file.
void expect_rebuilt(const fixture& f, const outcome& first, const std::string& why) {
  const auto rebuilt = f.run();
  BOOST_TEST_CONTEXT("stderr:\n" << rebuilt.err) {
    BOOST_TEST(contains(rebuilt.err, "was damaged"));
    BOOST_TEST(contains(rebuilt.err, why));
    BOOST_TEST(contains(rebuilt.err, "rebuilt from the IDX files"));
  }
  BOOST_TEST(results(rebuilt) == results(first));
  const auto after = f.run();
  BOOST_TEST(contains(after.out, "data from the cache " + f.cache_file().string()), after.out);
  BOOST_TEST(after.err.empty(), after.err);
}

} // namespace

BOOST_AUTO_TEST_CASE(a_cache_written_by_one_process_is_used_by_the_next) {
  fixture f;
  const auto first = f.run();
  BOOST_TEST(contains(first.out, "data cache written: " + f.cache_file().string()), first.out);
  const auto second = f.run();
  BOOST_TEST(contains(second.out, "data from the cache " + f.cache_file().string()), second.out);
  BOOST_TEST(second.err.empty(), second.err);
  BOOST_TEST(results(second) == results(first));
  BOOST_TEST(json_value(second.summary, "startup_s").value_or("null") != "null");
}

BOOST_AUTO_TEST_CASE(a_cache_with_a_flipped_byte_is_rebuilt) {
  fixture f;
  const auto first = f.run();
  const auto file = f.cache_file();
  {
    std::fstream io(file, std::ios::in | std::ios::out | std::ios::binary);
    const auto middle = static_cast<std::streamoff>(std::filesystem::file_size(file) / 2);
    io.seekg(middle);
    char byte = 0;
    io.get(byte);
    io.seekp(middle);
    io.put(static_cast<char>(byte ^ 0x10));
  }
  expect_rebuilt(f, first, "does not match its fingerprints");
}

BOOST_AUTO_TEST_CASE(a_truncated_cache_is_rebuilt) {
  fixture f;
  const auto first = f.run();
  const auto file = f.cache_file();
  std::filesystem::resize_file(file, std::filesystem::file_size(file) - 100);
  expect_rebuilt(f, first, "where its header implies");
}

BOOST_AUTO_TEST_CASE(a_file_that_is_no_cache_is_rebuilt) {
  fixture f;
  const auto first = f.run();
  std::ofstream(f.cache_file(), std::ios::binary | std::ios::trunc) << "not a cache";
  expect_rebuilt(f, first, "truncated");
}
