#pragma once

#include "proto/frame.hpp"

#include <string>

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
  // A session of this loop sent a message; the loop has already delivered
  // it to its own members of the room.
  virtual void on_publish(const frame_ptr& f) = 0;
  // The loop has closed every session and is about to stop.
  virtual void on_stopped() = 0;
};

} // namespace chatd::net
