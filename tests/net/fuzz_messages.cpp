// libFuzzer targets for what the server accepts from the network, in one binary (built once by
// scripts/fuzz.sh) whose target the environment variable DSQ_FUZZ_TARGET selects:
//
//   worker_hello    the body of (register_atom, worker_hello)
//   gradient_push   the body of (push_atom, gradient_push), then the server's push_check
//   message         a whole caf::message as the middleman hands it over: type names, then any
//                   registered type (the server's atoms with their arguments among them, and
//                   the messages between the shards of a sharded run); a
//                   (push_atom, gradient_push) goes on to push_check too. The same bytes, as
//                   the payload of a BASP direct message, go through the screen dsq's
//                   connections put in front of CAF's broker (net/transport/basp_screen.hpp): it
//                   must never let through a message whose decoding throws, nor, between two known
//                   nodes, one that starts with an atom only this process's own actors send
//                   (net/transport/local_only_atoms.hpp)
//
// Each input goes through CAF 0.17's binary_deserializer, which must either fail cleanly or
// produce a value; a decoded push must be refused with push_rejected or accepted. One exception
// is known and let through: CAF's own decoder throws std::runtime_error("invalid type found") on
// a variant tag out of range in a built-in type (config_value and the like), which dsq cannot
// change; dsq's connections screen such messages out (net/transport/basp_screen.hpp), and over
// others it ends CAF's network layer, which `dsq server` notices and exits 6 on, resumable
// (net/PROTOCOL.md; tests/system/test_faults_processes.cpp). Anything else,
// and every sanitizer report (an allocation beyond -rss_limit_mb among them), is a crash. CAF
// itself is not instrumented: the coverage that steers the fuzzer comes from dsq's inspect
// overloads, net/protocol/bounded_bytes.hpp, the wire decoder and push_check.

#include "net/protocol/atoms.hpp"
#include "net/protocol/messages.hpp"
#include "net/protocol/register_types.hpp"
#include "net/transport/basp_screen.hpp"
#include "net/transport/local_only_atoms.hpp"
#include "training/push_check.hpp"

#include "compression/wire.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/io/basp/header.hpp>
#include <caf/message.hpp>
#include <caf/scoped_execution_unit.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace {

/// The dimension and operator of the run the fuzzed server trains (fuzz_message_seeds.cpp
/// writes pushes of this shape).
constexpr std::size_t fuzz_dimension = 84;

class fuzz_config : public caf::actor_system_config {
public:
  fuzz_config() {
    dsq::register_message_types(*this);
    set("scheduler.max-threads", 1);
    set("logger.verbosity", caf::atom("quiet"));
  }
};

caf::actor_system& fuzz_system() {
  // Never destroyed: libFuzzer ends the process with exit(), and CAF's actor system must not be
  // torn down by static destructors after the objects it needs are gone.
  static auto* cfg = new fuzz_config;
  static auto* sys = new caf::actor_system{*cfg};
  return *sys;
}

void check_push(const dsq::gradient_push& p) {
  // A fresh check per input: what one input teaches the automatic bound must not change how
  // the next is judged, or a crash could not be reproduced from its input alone.
  dsq::push_check check{"sign", fuzz_dimension, 0};
  try {
    auto c = check.accept(p.payload);
    if (c.dimension() != fuzz_dimension)
      __builtin_trap();
  } catch (const dsq::push_rejected&) {
  }
}

/// Would the screen hand `data` to CAF's broker as the payload of a direct message without
/// forwarding stages? With `ends`, as a connection between two known nodes does.
bool screen_admits(caf::actor_system& sys, const std::uint8_t* data, std::size_t size,
                   const dsq::basp_endpoints* ends = nullptr) {
  std::vector<char> payload(size + 1, 0); // the stages: a count of 0
  std::copy(data, data + size, payload.begin() + 1);
  // A header as CAF's broker reads it: operation, padding, flags, then the payload's length in
  // network order (caf/io/basp/header.hpp).
  std::vector<char> header(caf::io::basp::header_size, 0);
  header[0] = static_cast<char>(caf::io::basp::message_type::direct_message);
  const auto length = static_cast<std::uint32_t>(payload.size());
  for (int i = 0; i < 4; ++i)
    header[4 + i] = static_cast<char>(length >> (8 * (3 - i)));
  caf::scoped_execution_unit ctx{&sys};
  dsq::basp_screen screen;
  if (!screen.admit(&ctx, nullptr, header.data(), header.size(), ends))
    __builtin_trap(); // a header within the limit is never refused
  return screen.admit(&ctx, nullptr, payload.data(), payload.size(), ends);
}

/// Two nodes of a connection: this process and its peer.
const dsq::basp_endpoints& fuzz_endpoints() {
  static const dsq::basp_endpoints ends{*caf::make_node_id(1, std::string(40, 'a')),
                                        *caf::make_node_id(2, std::string(40, 'b'))};
  return ends;
}

enum class fuzz_target { worker_hello, gradient_push, message };

fuzz_target target = fuzz_target::message;

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* name = std::getenv("DSQ_FUZZ_TARGET");
  const std::string chosen = name ? name : "";
  if (chosen == "worker_hello") {
    target = fuzz_target::worker_hello;
  } else if (chosen == "gradient_push") {
    target = fuzz_target::gradient_push;
  } else if (chosen == "message") {
    target = fuzz_target::message;
  } else {
    std::fprintf(stderr, "DSQ_FUZZ_TARGET must be worker_hello, gradient_push or message\n");
    std::exit(2);
  }
  fuzz_system();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto& sys = fuzz_system();
  caf::binary_deserializer source{sys, reinterpret_cast<const char*>(data), size};
  switch (target) {
  case fuzz_target::worker_hello: {
    dsq::worker_hello hello;
    (void)source(hello);
    break;
  }
  case fuzz_target::gradient_push: {
    dsq::gradient_push push;
    if (!source(push))
      check_push(push);
    break;
  }
  case fuzz_target::message: {
    caf::message msg;
    bool decoded = false;
    try {
      decoded = !source(msg);
    } catch (const std::runtime_error& e) {
      if (std::string_view{e.what()} != "invalid type found")
        throw; // anything but CAF's known variant defect is a finding
      if (size < 1000000 && screen_admits(sys, data, size))
        __builtin_trap(); // the screen let it through: CAF's broker would have ended
    }
    if (decoded && msg.match_elements<dsq::push_atom, dsq::gradient_push>())
      check_push(msg.get_as<dsq::gradient_push>(1));
    // What only this process's actors send (net/protocol/atoms.hpp) never passes a connection's
    // screen.
    if (decoded && size < 1000000 && msg.size() > 0 && msg.match_element<caf::atom_value>(0) &&
        dsq::is_local_only(msg.get_as<caf::atom_value>(0)) &&
        screen_admits(sys, data, size, &fuzz_endpoints()))
      __builtin_trap();
    break;
  }
  }
  return 0;
}
