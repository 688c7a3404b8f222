#pragma once

#include "proto/frame.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace chatd::net {

// What a loop tells the rest of the server. Called on the loop's own thread;
// an implementation must not block (it hands the news to actors).
class loop_events {
public:
  virtual ~loop_events() = default;
  // A session of this loop joined / left a room. `first` / `last` say whether
  // it is the loop's first member of the room / was its last one. Called
  // before the session can see any message, so whatever the implementation
  // sends from here is ordered before anything the client does next.
  virtual void on_join(const std::string& room, bool first) = 0;
  virtual void on_leave(const std::string& room, bool last) = 0;
  // The node got its first member of `room` (a new generation of its
  // presence) or lost its last one. Called under the room's presence lock,
  // so what is sent from here is in the order of the changes, whichever
  // loops made them.
  virtual void on_node_interest(const std::string& room, bool present, std::uint64_t generation) = 0;
  // The messages sessions of this loop sent during one pass, whose rooms
  // have members elsewhere; the loop has already delivered them to its own
  // members.
  virtual void on_publish(std::vector<frame_ptr> batch) = 0;
  // The loop has closed every session and is about to stop.
  virtual void on_stopped() = 0;
};

} // namespace chatd::net
