#pragma once

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
  // Mutual TLS between peers: all three or none.
  std::string cluster_cert, cluster_key, cluster_ca;
  // Where the cluster port listens; empty: 127.0.0.1 without certificates,
  // every address with them.
  std::string cluster_bind;
  bool clustered() const { return cluster_port != 0 || !peers.empty(); }
  bool cluster_tls() const { return !cluster_cert.empty(); }
};

// Parses flags (and their CHATD_* environment variables). Returns the exit
// code when the process should stop now: 0 after --help or --version, 2 with
// a message on `err_stream` for a bad flag.
std::optional<int> parse_options(int argc, const char* const* argv, options& out, std::ostream& out_stream,
                                 std::ostream& err_stream);

} // namespace chatd::app
