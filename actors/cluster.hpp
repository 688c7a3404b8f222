#pragma once

#include "net/room_directory.hpp"
#include "proto/chat_metrics.hpp"
#include "proto/frame.hpp"
#include "proto/peer_address.hpp"

#include <caf/actor.hpp>
#include <caf/behavior.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/io/middleman_actor.hpp>
#include <caf/stateful_actor.hpp>

#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace chatd::actors {

// Local messages kept for a peer that cannot take them yet, oldest first,
// with their payload bytes: see cluster_state::held and peer::backlog.
struct held_frames {
  std::deque<frame_ptr> frames;
  std::size_t bytes = 0;
  void push(const frame_ptr& f);
  frame_ptr pop();
  void clear();
};

// This node's end of the full mesh. It is the actor published on the cluster
// port: it dials every seed in --peers (with capped exponential backoff),
// greets each peer with the protocol version, forwards local messages once to
// every peer that has members of their room (interest routing: peers tell
// each other their rooms), hands what peers send to the local broadcaster
// (never onwards), and exchanges connection counts for cluster-count. Until
// every seed is linked (or the start-up grace is over) it holds local
// messages for the nodes it has not met yet.
struct cluster_state {
  struct peer {
    caf::actor handle;
    std::uint64_t connections = 0;
    // The rooms it has members of, once it has told us (until then it gets
    // every message); each holds the room's presence up for the loops.
    bool rooms_known = false;
    std::map<std::string, std::shared_ptr<net::room_presence>> rooms;
    // From link-up until it answers for its rooms (which it does only once
    // it has greeted us, so it takes what we send), messages for it wait
    // here, and are sent in order after them.
    bool holding = true;
    held_frames backlog;
    // Presence: this node's counts go to it once its full dump has (asked
    // of the presence actor when its room list arrives, under this epoch).
    bool presence_linked = false;
    std::uint64_t presence_epoch = 0;
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
    // Which dial the answers that come back belong to: a dial resolved
    // another way (its node greeted us first) ignores the late ones.
    std::uint64_t attempt = 0;
    caf::node_id node;  // the CAF node the current dial reached
    int unanswered = 0; // hellos in a row that got no answer: the next waits longer
    // Listed after this node: never dialled from here; it dials us.
    bool passive = false;
    bool first_dial_done = false;
  };
  std::string node_id;
  std::vector<seed> seeds;
  std::map<std::string, peer> peers;          // node id -> peer
  std::map<std::string, known_node> known;    // node id -> counters
  std::map<std::string, std::size_t> seed_of; // node id -> index in seeds, once known
  // Seeds are dialled for the first time one after another, in their order,
  // up to this node's own entry (see "Who dials whom" in docs/DESIGN.md).
  std::size_t next_first_dial = 0;
  bool found_self = false;
  std::uint64_t published = 0;                      // local messages so far (for nodes first seen later)
  std::map<std::string, std::uint64_t> local_rooms; // rooms with members here -> generation
  // Start-up: until every seed is resolved or the grace period is over, the
  // latest local messages (the last held.frames.size() of `published`) are
  // kept for nodes not seen yet; a node first seen gets them.
  bool holding = false;
  held_frames held;
  bool ready = false; // /readyz: every seed resolved, or the grace is over
  std::chrono::steady_clock::time_point started;
  std::chrono::milliseconds ready_grace{};
  caf::actor broadcaster;
  caf::actor presence; // set once after start; empty in tests without one
  // Order across nodes: this node and its peers, sorted (the loops have a
  // copy, sent whenever it changes); history requests of peers waiting for
  // a loop's answer; the epoch of the last frame from a peer, so that its
  // next frames share one string.
  std::vector<std::string> view;
  std::map<std::uint64_t, caf::response_promise> history_asked;
  std::uint64_t history_requests = 0;
  std::shared_ptr<const std::string> last_epoch;
  net::room_directory* directory = nullptr;
  // Dials peers: the middleman's actor, or the OpenSSL module's for TLS links.
  caf::io::middleman_actor dialer;
  chat_metrics* metrics = nullptr;
  static inline const char* name = "chatd.cluster";
};

inline constexpr std::chrono::milliseconds first_dial_backoff{250};
inline constexpr std::chrono::milliseconds max_dial_backoff{5'000};
// A seed listed after this node that has not dialled it within this time
// (down, or --peers in another order there) is dialled from here.
inline constexpr std::chrono::seconds passive_fallback{10};

// How long a node's first member of a room waits for peers to acknowledge it.
inline constexpr std::chrono::seconds interest_timeout{2};

// A hello waits 250 ms for its answer, then the seed is dialled again; each
// hello after one that got no answer waits twice as long, up to 5 s (a busy
// node). A room-list request is tried up to greeting_attempts times, with
// the same timeouts.
inline constexpr int greeting_attempts = 5;
inline constexpr std::chrono::milliseconds first_attempt_timeout{250};
inline constexpr std::chrono::milliseconds max_attempt_timeout{5'000};

// How long a session's history request waits for the node that orders its
// room; then it is answered as not recovered.
inline constexpr std::chrono::seconds remote_history_timeout{3};

// Bounds of what is held for a node (the start-up hold, and each peer's
// backlog); over them the oldest messages go first.
inline constexpr std::size_t hold_max_messages = 10'000;
inline constexpr std::size_t hold_max_bytes = 8 << 20;

// `ready_grace`: how long after start the node waits for its seeds before
// /readyz says ready anyway, and holds messages for them at most.
caf::behavior cluster(caf::stateful_actor<cluster_state>* self, std::string node_id, std::vector<peer_address> seeds,
                      std::chrono::milliseconds ready_grace, caf::actor broadcaster, caf::io::middleman_actor dialer,
                      chat_metrics* metrics, net::room_directory* directory);

} // namespace chatd::actors
