#pragma once

// How a server publishes itself and a worker reaches it: over TLS with certificates on both
// sides (CAF's OpenSSL module's sessions, dsq's screened connections: screened_tls.hpp) when
// the node has a TLS identity, over the plain middleman
// otherwise, and then only on a loopback address unless the user insists (--insecure).
// Plain CAF trusts whoever connects: anyone who reaches the port can send any message, and a
// forged transport header makes the middleman allocate whatever size it announces (dsq's
// connections screen both: net/transport/basp_screen.hpp, net/transport/message_size_limit.hpp).

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace dsq {

/// A node's TLS identity: its certificate and key, and the CA its peers' certificates must be
/// signed by. All three empty: no TLS.
struct tls_files {
  std::string cert; ///< PEM certificate (chain) this node presents
  std::string key;  ///< PEM private key of `cert`
  std::string ca;   ///< PEM certificate of the CA that signs every node of the cluster

  /// True when the node talks TLS (check_tls_files made sure all three are given).
  bool enabled() const { return !cert.empty() || !key.empty() || !ca.empty(); }
};

/// Checks that the three files are given together, are readable PEM, and that the key belongs
/// to the certificate. Throws config_error naming the option or the file at fault.
void check_tls_files(const tls_files& tls);

/// True for 127.0.0.0/8, ::1 (also IPv4-mapped 127/8) and `localhost`: addresses that only
/// this host can reach.
bool is_loopback_address(const std::string& host);

/// Refuses (config_error) a server address that is not loopback when the node has no TLS and
/// the user did not pass --insecure, and says why.
void check_bind_address(const std::string& bind, bool tls, bool insecure);

/// Loads CAF's OpenSSL module and points it at the files when TLS is configured; nothing
/// otherwise. Call before the actor system starts, after check_tls_files.
void configure_transport(caf::actor_system_config& cfg, const tls_files& tls);

/// Why publishing or connecting failed, as a sentence for `dsq: error: ...`.
struct transport_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Publishes `server` on `bind`:`port` (0: a free port) and returns the port. Over TLS when
/// the system was configured with it; without TLS only on a loopback address, unless
/// `insecure`. Throws transport_error.
std::uint16_t publish_server(caf::actor_system& sys, const caf::actor& server, std::uint16_t port,
                             const std::string& bind, bool insecure);

/// CAF's BASP broker, which carries every message from and to other processes. CAF 0.17
/// deserializes arriving messages inside it, and its deserializer throws on a variant tag out of
/// range in a built-in type (config_value, for one): the broker then ends for good, and the
/// process can reach no peer any more. Monitor it to notice; call after the system started.
caf::actor network_layer(caf::actor_system& sys);

/// Connects to the server published at `host`:`port` (over TLS when the system was configured
/// with it). Retries while nobody listens there, as the server may still be starting; every
/// attempt, handshake included, ends by `deadline`, so a peer that accepts and never answers
/// cannot hold the caller. `stop()` true ends the retries early. Throws transport_error.
caf::actor connect_to_server(caf::actor_system& sys, const std::string& host, std::uint16_t port,
                             std::chrono::steady_clock::time_point deadline,
                             const std::function<bool()>& stop = {});

/// Reaches a lost server again: on a thread of its own, tries `host`:`port` for `timeout` (a
/// supervisor restarts the server with --resume meanwhile) and calls `reached(server)`; when
/// the time is up or `stop()` says so, calls `given_up(why)`, `why` a sentence naming the
/// address and the reason. Both are called on that thread. Knows connections, not messages:
/// what the worker is told is the caller's (actors/reconnect_worker.hpp).
void reconnect_to_server(caf::actor_system& sys, std::string host, std::uint16_t port,
                         std::chrono::seconds timeout, std::function<bool()> stop,
                         std::function<void(caf::actor)> reached,
                         std::function<void(std::string)> given_up);

} // namespace dsq
