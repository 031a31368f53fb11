#pragma once

// TLS connections whose input is screened like dsq's plain ones (net/transport/basp_screen.hpp).
// CAF 0.17's OpenSSL module makes its own scribes, out of reach of eager_multiplexer, so an
// authenticated peer could still send a message whose decoding throws in CAF's BASP broker and
// end the process's network layer. This is the OpenSSL module's middleman actor again, with
// scribes that screen what they hand to the broker: the same sessions (caf::openssl::session,
// configured by the module from --tls-cert, --tls-key and --tls-ca), the same handshake, the
// same BASP broker. Connect and publish through it instead of the module's actor.

#include <caf/actor_system.hpp>
#include <caf/io/middleman_actor.hpp>

namespace dsq {

/// The middleman actor of screened TLS connections, spawned at the first call and then kept
/// (one per actor system, which must have loaded caf::openssl::manager). It answers what CAF's
/// middleman actor answers: (publish_atom, ...) and (connect_atom, host, port).
caf::io::middleman_actor screened_tls_middleman(caf::actor_system& sys);

} // namespace dsq
