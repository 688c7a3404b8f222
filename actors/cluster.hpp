#pragma once

#include "net/room_directory.hpp"
#include "proto/chat_metrics.hpp"
#include "proto/peer_address.hpp"

#include <caf/actor.hpp>
#include <caf/behavior.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/io/middleman_actor.hpp>
#include <caf/stateful_actor.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace chatd::actors {

// This node's end of the full mesh. It is the actor published on the cluster
// port: it dials every seed in --peers (with capped exponential backoff),
// greets each peer with the protocol version, forwards local messages once to
// every peer that has members of their room (interest routing: peers tell
// each other their rooms), hands what peers send to the local broadcaster
// (never onwards), and exchanges connection counts for cluster-count.
struct cluster_state {
  struct peer {
    caf::actor handle;
    std::uint64_t connections = 0;
    // The rooms it has members of, once it has told us (until then it gets
    // every message); each holds the room's presence up for the loops.
    bool rooms_known = false;
    std::map<std::string, std::shared_ptr<net::room_presence>> rooms;
  };
  // Every node that has been a peer, linked now or not, with its counters.
  struct known_node {
    prometheus::Counter* sent = nullptr;
    prometheus::Counter* received = nullptr;
    prometheus::Counter* dropped = nullptr;
    prometheus::Counter* unrouted = nullptr;
    bool unknown = false; // counted in the directory's unknown peers
  };
  struct seed {
    peer_address address;
    std::chrono::milliseconds backoff;
    bool dialing = false;
    // Not linked yet, so its rooms (and whether it is this node) are not
    // known: counted in the directory's unknown peers until then.
    bool pending = true;
  };
  std::string node_id;
  std::vector<seed> seeds;
  std::map<std::string, peer> peers;                // node id -> peer
  std::map<std::string, known_node> known;          // node id -> counters
  std::map<std::string, std::size_t> seed_of;       // node id -> index in seeds, once known
  std::uint64_t published = 0;                      // local messages so far (for nodes first seen later)
  std::map<std::string, std::uint64_t> local_rooms; // rooms with members here -> generation
  caf::actor broadcaster;
  net::room_directory* directory = nullptr;
  // Dials peers: the middleman's actor, or the OpenSSL module's for TLS links.
  caf::io::middleman_actor dialer;
  chat_metrics* metrics = nullptr;
  static inline const char* name = "chatd.cluster";
};

inline constexpr std::chrono::milliseconds first_dial_backoff{250};
inline constexpr std::chrono::milliseconds max_dial_backoff{5'000};

// How long a node's first member of a room waits for peers to acknowledge it.
inline constexpr std::chrono::seconds interest_timeout{2};

caf::behavior cluster(caf::stateful_actor<cluster_state>* self, std::string node_id, std::vector<peer_address> seeds,
                      caf::actor broadcaster, caf::io::middleman_actor dialer, chat_metrics* metrics,
                      net::room_directory* directory);

} // namespace chatd::actors
