#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace chatd::net {

namespace auth {
class token_verifier;
}

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

  // permessage-deflate (RFC 7692, see net/deflate.hpp): negotiated with the
  // clients that offer it. Messages under compression_min_bytes go as they
  // are; compression_window_bits is the client_max_window_bits chatd asks
  // for (the window of its inflater for each client's messages).
  bool compression = false;
  std::size_t compression_min_bytes = 64;
  int compression_window_bits = 15;

  // Presence (see README "Presence"): a room with more users + anonymous
  // connections than this, cluster-wide, gets counts instead of the member
  // list and no join/leave events.
  std::size_t presence_max_members = 1000;

  // History (see net/room_history.hpp): what each room keeps for resumes
  // and ?history=, on the loop that orders it. The bytes bound is the
  // node's: each loop keeps at most its share.
  std::size_t history_size = 100;
  std::chrono::milliseconds history_ttl{5 * 60 * 1000};
  std::size_t history_max_bytes = 64 * 1024 * 1024;
  // In a cluster, one node orders each room (docs/DESIGN.md "Order across
  // nodes"); off: each node delivers its own clients' messages first, with
  // per-sender order only and no history.
  bool cluster_order = true;

  // Admission (see README "Security"). Empty or "*": any Origin.
  std::vector<std::string> allowed_origins;
  std::size_t max_connections = 0;      // WebSocket connections; 0: no limit of our own
  double max_messages_per_second = 0;   // per connection, token bucket; 0: no limit
  double max_handshakes_per_second = 0; // whole server; over it: close 1013; 0: no limit

  // With a verifier every upgrade must carry a valid token (README
  // "Authentication"); null: anyone may join any room.
  std::shared_ptr<const auth::token_verifier> auth;
  // The server API's key (--api-key-file); empty: no API (404).
  std::string api_key;
};

} // namespace chatd::net
