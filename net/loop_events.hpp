#pragma once

#include "net/room_history.hpp"
#include "proto/frame.hpp"
#include "proto/presence_count.hpp"

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
  // A session joined / left a room, with who it is: for the presence actor,
  // which answers a chatd.v1 session with its snapshot (io_loop::presence_snapshot).
  // Called right after on_join / before on_leave.
  virtual void on_presence_join(const presence_session&) {}
  virtual void on_presence_leave(const presence_session&) {}
  // The node got its first member of `room` (a new generation of its
  // presence) or lost its last one. Called under the room's presence lock,
  // so what is sent from here is in the order of the changes, whichever
  // loops made them.
  virtual void on_node_interest(const std::string& room, bool present, std::uint64_t generation) = 0;
  // The messages sessions of this loop sent during one pass, whose rooms
  // have members elsewhere; the loop has already delivered them to its own
  // members.
  virtual void on_publish(std::vector<frame_ptr> batch) = 0;
  // The messages sessions of this loop (or the API) gave it during one pass
  // whose rooms another loop orders (home_loop): that loop gives them their
  // offsets, then delivers and publishes them like its own. Nothing was
  // delivered here yet.
  virtual void on_forward(std::vector<frame_ptr> batch) = 0;
  // A chatd.v1 session of this loop asks for history (`?since=`, `?history=`):
  // for the loop that orders the room (io_loop::serve_history), whose answer
  // comes back through on_history_answer of that loop, to
  // io_loop::history_arrived of this one, behind what that loop published
  // before answering.
  virtual void on_history_request(const std::string& room, const history_request& request, std::uint64_t loop,
                                  std::uint64_t session) = 0;
  virtual void on_history_answer(std::uint64_t loop, std::uint64_t session, const history_answer& answer) = 0;
  // In a cluster, for rooms another node orders (ordering_node over the
  // loop's view): the messages sessions of this loop (or the API) gave it
  // during one pass, for that node to order and fan out (they come back
  // here from it, like any peer's), and a session's history request, for
  // that node to answer (through history_arrived, as above).
  virtual void on_order_elsewhere(std::vector<frame_ptr> batch) = 0;
  virtual void on_remote_history_request(const std::string& room, const history_request& request, std::uint64_t loop,
                                         std::uint64_t session) = 0;
  // The server API removes `user` from `room`: this loop has closed its
  // sessions of the user; every other loop and node must close theirs.
  virtual void on_remove(const std::string& room, const std::string& user) = 0;
  // The loop has closed every session and is about to stop.
  virtual void on_stopped() = 0;
};

} // namespace chatd::net
