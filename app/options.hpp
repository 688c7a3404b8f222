#pragma once

#include "app/token_command.hpp"
#include "net/server_options.hpp"
#include "proto/peer_address.hpp"

#include <chrono>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

namespace chatd::app {

// Everything chatd is told on its command line or in CHATD_* variables.
struct options {
  net::server_options server;
  std::chrono::milliseconds tick{3000};
  std::uint16_t cluster_port = 0; // 0: do not publish a cluster port
  std::vector<peer_address> peers;
  // How long a node waits for its seeds before it is ready anyway (/readyz),
  // and at most holds messages for the ones not linked yet; 0: not at all.
  std::chrono::milliseconds cluster_ready_grace{5000};
  // A peer that sends nothing (not even a heartbeat, every fifth of this)
  // for this long is gone.
  std::chrono::milliseconds cluster_timeout{5000};
  // Mutual TLS between peers: all three or none.
  std::string cluster_cert, cluster_key, cluster_ca;
  // Where the cluster port listens; empty: 127.0.0.1 without certificates,
  // every address with them.
  std::string cluster_bind;
  // --auth-jwt-key: the file server.auth was loaded from; empty: no authentication.
  std::string auth_jwt_key;
  // Set by `chatd token`: print a token and exit, no server.
  std::optional<token_request> token;
  bool clustered() const { return cluster_port != 0 || !peers.empty(); }
  bool cluster_tls() const { return !cluster_cert.empty(); }
};

// Parses flags (and their CHATD_* environment variables), and loads the
// --auth-jwt-key file. Returns the exit code when the process should stop
// now: 0 after --help or --version, 2 with a message on `err_stream` for a
// bad flag or key file.
std::optional<int> parse_options(int argc, const char* const* argv, options& out, std::ostream& out_stream,
                                 std::ostream& err_stream);

} // namespace chatd::app
