#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace chatd::net {

// What the network side needs to know; filled from the command line by app/.
struct server_options {
  std::string node_id = "chatd";
  std::string bind = "0.0.0.0";
  std::uint16_t port = 9000; // 0: pick a free port
  std::size_t threads = 1;
  std::size_t max_message_bytes = 64 * 1024;
  // Outbound bytes per connection: over the soft bound for longer than the
  // grace period, or over the hard bound at all, the client is closed as slow.
  std::size_t max_queue_bytes = 1024 * 1024;
  std::size_t hard_queue_bytes = 16 * 1024 * 1024;
  std::chrono::milliseconds slow_consumer_grace{5'000};
  std::chrono::milliseconds idle_timeout{60'000};
  std::chrono::milliseconds handshake_timeout{10'000};
  std::chrono::milliseconds http_timeout{30'000};
  // How long a closing connection may take to finish its close handshake
  // before its socket is closed under it.
  std::chrono::milliseconds close_grace{2'000};

  // Admission (see README "Security"). Empty or "*": any Origin.
  std::vector<std::string> allowed_origins;
  std::size_t max_connections = 0;      // WebSocket connections; 0: no limit of our own
  double max_messages_per_second = 0;   // per connection, token bucket; 0: no limit
  double max_handshakes_per_second = 0; // whole server; over it: close 1013; 0: no limit
};

} // namespace chatd::net
