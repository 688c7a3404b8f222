#pragma once

#include "proto/frame.hpp"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace chatd::net {

// Everything one connection is owed, in order, written with as few gather
// writes as the socket takes: up to max_iov frames per sendmsg, from the
// shared frames themselves (no copy). Frames are never cut into or
// reordered, so a frame that was partly written is finished before anything
// after it, whatever the socket accepts each time.
//
// Holds nothing on the heap while empty and never (re)allocated between
// messages of a steady stream; release_memory() gives the slot array back.
class frame_writer {
public:
  static constexpr std::size_t max_iov = 64; // Asio's (and Linux's usual) gather limit per call

  struct result {
    std::size_t messages = 0; // message frames finished by this call (control frames not counted)
    bool blocked = false;     // the socket took less than it was offered: wait until it is writable
    int error = 0;            // errno of a failed write (the connection is broken)
  };

  void push(frame_ptr f);
  // Writes to non-blocking `fd` until everything is written or the socket is full.
  result flush(int fd);

  // Drops every message frame not started yet and says how many; a frame
  // that is partly written stays, so the stream stays whole, and so do
  // control frames.
  std::size_t drop_unstarted();
  // Drops everything (the connection is gone).
  std::size_t drop_all();

  bool empty() const { return head_ == frames_.size(); }
  std::size_t bytes() const { return bytes_; }
  void release_memory();

private:
  void pop_front();

  std::vector<frame_ptr> frames_;
  std::uint32_t head_ = 0;   // first frame not fully written
  std::uint32_t offset_ = 0; // bytes of frames_[head_] already written
  std::size_t bytes_ = 0;    // bytes not written yet
};

} // namespace chatd::net
