// Writes a starting corpus for the fuzz targets of fuzz_messages.cpp into argv[1]/<target>/:
// valid serialized messages of each kind the server accepts, so that the fuzzer starts past
// CAF's type names and dsq's field layout, and the one message CAF cannot decode
// (forged_config_value.hpp), so that every run starts from it.

#include "compression/make_compressor.hpp"
#include "compression/wire.hpp"
#include "net/protocol/atoms.hpp"
#include "net/protocol/messages.hpp"
#include "net/protocol/register_types.hpp"
#include "tests/net/forged_config_value.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/message.hpp>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace {

class seed_config : public caf::actor_system_config {
public:
  seed_config() {
    dsq::register_message_types(*this);
    add_message_type<dsq::testing::forged_config_value>("@config_value");
    set("scheduler.max-threads", 1);
  }
};

int written = 0;

template <class T>
void write(caf::actor_system& sys, const std::filesystem::path& dir, T& value) {
  std::vector<char> bytes;
  caf::binary_serializer sink{sys, bytes};
  if (auto err = sink(value)) {
    std::fprintf(stderr, "fuzz_message_seeds: cannot serialize: %s\n", sys.render(err).c_str());
    std::exit(1);
  }
  std::filesystem::create_directories(dir);
  std::ofstream file{dir / ("seed-" + std::to_string(written++)), std::ios::binary};
  file.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::vector<std::uint8_t> payload(const std::string& spec, std::size_t dim, float scale) {
  std::vector<float> v(dim);
  for (std::size_t j = 0; j < dim; ++j)
    v[j] = scale * (static_cast<float>((j * 7919) % 23) - 11.0f);
  dsq::rng_engine rng{dim};
  return dsq::to_bytes(dsq::make_compressor(spec)->compress(v, rng));
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s corpus-directory\n", argv[0]);
    return 2;
  }
  const std::filesystem::path root{argv[1]};
  seed_config cfg;
  caf::actor_system sys{cfg};
  for (const char* host : {"", "worker-1 pid 4242"}) {
    dsq::worker_hello hello;
    hello.host = host;
    write(sys, root / "worker_hello", hello);
    auto msg = caf::make_message(dsq::register_atom::value, hello);
    write(sys, root / "message", msg);
  }
  for (const auto& spec : {"sign", "sign:block=16", "identity", "topk:k=8", "qsgd:s=4"}) {
    for (float scale : {0.01f, 1e30f}) {
      dsq::gradient_push push;
      push.worker_id = 1;
      push.step = 7;
      push.loss = 0.5f;
      push.payload = payload(spec, 84, scale);
      write(sys, root / "gradient_push", push);
      auto msg = caf::make_message(dsq::push_atom::value, push);
      write(sys, root / "message", msg);
    }
  }
  // What the server takes while it sends its data (net/PROTOCOL.md, "Data from the server").
  auto data = caf::make_message(dsq::data_atom::value,
                                dsq::data_request{0x0123456789abcdefULL, 2, 4096, 1});
  write(sys, root / "message", data);
  auto leave = caf::make_message(dsq::leave_atom::value, std::uint32_t{3});
  write(sys, root / "message", leave);
  // A worker that cannot go on says why (protocol 8): the reason is the peer's to choose.
  auto failed =
      caf::make_message(dsq::leave_atom::value, std::uint32_t{3},
                        dsq::farewell{"worker 3: model 'x' returned a loss of nan", true});
  write(sys, root / "message", failed);
  auto stop = caf::make_message(dsq::stop_atom::value);
  write(sys, root / "message", stop);
  // The server's timer, which strangers flooded (net/transport/local_only_atoms.hpp).
  auto tick = caf::make_message(caf::atom_constant<caf::atom("tick")>::value);
  write(sys, root / "message", tick);
  // What shards say to each other (net/PROTOCOL.md, "Shards"), and a sharded push.
  {
    dsq::gradient_push push;
    push.worker_id = 1;
    push.step = 7;
    push.shard = 1;
    push.payload = payload("sign", 84, 0.01f);
    auto msg = caf::make_message(dsq::push_atom::value, push);
    write(sys, root / "message", msg);
    dsq::shard_setup setup;
    setup.ranges = {{0, 42}, {42, 84}};
    setup.slice.assign(42, 0.5f);
    auto setup_msg = caf::make_message(dsq::shard_setup_atom::value, setup);
    write(sys, root / "message", setup_msg);
    auto join = caf::make_message(dsq::shard_join_atom::value,
                                  dsq::shard_join{1, 2, dsq::protocol_version, "127.0.0.1:4243"});
    write(sys, root / "message", join);
    auto held = caf::make_message(dsq::held_atom::value, dsq::slice_held{1, 1, 7});
    write(sys, root / "message", held);
    auto refused =
        caf::make_message(dsq::refused_atom::value, dsq::slice_refused{1, 1, 7, "bad norm"});
    write(sys, root / "message", refused);
    auto commit =
        caf::make_message(dsq::commit_atom::value, dsq::round_commit{3, 0.5f, {1, 2}, {7, 8}});
    write(sys, root / "message", commit);
    auto member = caf::make_message(dsq::member_atom::value, dsq::member_change{2, 3, true});
    write(sys, root / "message", member);
    auto end = caf::make_message(dsq::shard_end_atom::value, dsq::shard_end{false, ""});
    write(sys, root / "message", end);
    auto report = caf::make_message(dsq::shard_report_atom::value, dsq::shard_report{1, 10, 20, 3});
    write(sys, root / "message", report);
  }
  auto bad_variant = caf::make_message(dsq::testing::forged_config_value{});
  write(sys, root / "message", bad_variant);
  std::printf("fuzz_message_seeds: %d seeds in %s\n", written, argv[1]);
  return 0;
}
