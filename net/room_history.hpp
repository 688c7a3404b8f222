#pragma once

#include "net/room_directory.hpp"
#include "proto/frame.hpp"

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace chatd::net {

// How much history one history_store keeps (README "Order, history and
// resume"): per room the newest `max_messages` no older than `ttl`, and in
// all at most `max_bytes` (history_cost). A zero `max_messages` or `ttl`
// keeps none (offsets are still given). One answer sends at most
// `max_replay_bytes` (replay_cost): a resume that needs more is not
// recovered, and gets the most recent messages that fit.
struct history_limits {
  std::size_t max_messages = 100;
  std::chrono::milliseconds ttl{5 * 60 * 1000};
  std::size_t max_bytes = 64 * 1024 * 1024;
  std::size_t max_replay_bytes = 512 * 1024;
  bool keeps() const { return max_messages > 0 && ttl.count() > 0 && max_bytes > 0; }
};

// The loop of a node that orders `room` (one of `loops`): the same on every
// node and in every run (FNV-1a of the name).
std::size_t home_loop(std::string_view room, std::size_t loops);

// The node of `nodes` (node ids; this node and the peers it is linked to)
// that orders `room` in a cluster: the highest rendezvous hash of (room,
// node), so that a node coming or going moves only the rooms it wins or
// won. Null when `nodes` is empty.
const std::string* ordering_node(std::string_view room, const std::vector<std::string>& nodes);

// What a chatd.v1 client asks for on its upgrade URL: `?since=<epoch>:<offset>`
// (resume after that message) and/or `?history=<n>` (the last n messages).
struct history_request {
  bool resume = false;
  std::string epoch;
  std::uint64_t offset = 0;
  std::size_t count = 0; // ?history=n; with a resume that fails: how much recent history (0: all kept)
  bool wanted() const { return resume || count > 0; }
};

// The request a target carries, or nullopt when `since` or `history` is
// malformed (the upgrade is refused with 400).
std::optional<history_request> parse_history_request(std::string_view target);

// What the room's sequencer answers a history_request with: whether the
// resume is seamless, the room's position now, and the messages to send
// first (after the requested offset, or the most recent ones).
struct history_answer {
  bool recovered = false;
  std::shared_ptr<const std::string> epoch;
  std::uint64_t offset = 0; // the room's last offset when the answer was made
  std::vector<frame_ptr> frames;
};

// One room's sequence on the loop that orders it: its epoch, the offset it
// gave last, and the messages it keeps.
class room_log {
public:
  room_log(std::string epoch, std::shared_ptr<room_presence> presence)
    : epoch_(std::make_shared<const std::string>(std::move(epoch)))
    , presence_(std::move(presence)) {}

  const std::shared_ptr<const std::string>& epoch() const { return epoch_; }
  std::uint64_t last() const { return last_; }
  room_presence& presence() const { return *presence_; }

private:
  friend class history_store;
  struct entry {
    frame_ptr f;
    std::chrono::steady_clock::time_point at;
  };
  std::shared_ptr<const std::string> epoch_;
  std::shared_ptr<room_presence> presence_;
  std::uint64_t last_ = 0;
  std::deque<entry> entries_;
};

// The sequences and history of the rooms one loop orders. Touched on that
// loop's thread only; a plain class, so the bounds are unit-tested alone.
class history_store {
public:
  // `epoch_prefix` makes this store's epochs unique among every node and
  // restart (see docs/DESIGN.md "Order, history and resume").
  history_store(std::string epoch_prefix, history_limits limits, room_directory& directory)
    : prefix_(std::move(epoch_prefix))
    , limits_(limits)
    , directory_(directory) {}

  // The room's log, made (with a new epoch) if it has none.
  room_log& log(const std::string& room);
  // Gives `f` the room's next offset and keeps it as history.
  room_log& append(const frame_ptr& f);
  // The answer to `request` for `room`, made now.
  history_answer answer(const std::string& room, const history_request& request);
  // Drops what is older than the ttl, and the logs of rooms without history
  // or members on this node (their next message starts a new epoch).
  void sweep(std::chrono::steady_clock::time_point now);
  // Drops the logs of the rooms `gone` says this store no longer orders:
  // if it orders one again, its next message starts a new epoch.
  void retire(const std::function<bool(const std::string& room)>& gone);

  std::size_t bytes() const { return bytes_; }
  std::size_t messages() const { return messages_; }
  const history_limits& limits() const { return limits_; }

private:
  std::shared_ptr<room_log>& slot(const std::string& room);
  void evict_front(room_log& log);
  void trim(room_log& log, std::chrono::steady_clock::time_point now);

  std::string prefix_;
  history_limits limits_;
  room_directory& directory_;
  std::unordered_map<std::string, std::shared_ptr<room_log>> logs_;
  // Every kept message in the order it was kept, across rooms: the oldest
  // goes first when the bytes are over the bound. An entry whose message
  // has gone already (size or age) is skipped.
  struct kept {
    std::weak_ptr<room_log> log;
    std::uint64_t offset;
  };
  static bool live(const kept& k); // its message is still kept
  std::deque<kept> order_;
  std::uint64_t epochs_made_ = 0;
  std::size_t bytes_ = 0;
  std::size_t messages_ = 0;
};

// What a kept message counts against --history-max-bytes.
inline std::size_t history_cost(const frame& f) {
  return f.wire.size() + f.room.size() + f.user.size() + f.name.size();
}

// What a replayed message adds to a session's queue, about: the frame and
// room and sender in its chatd.v1 envelope, with the envelope's other fields.
inline std::size_t replay_cost(const frame& f) { return history_cost(f) + 128; }

} // namespace chatd::net
