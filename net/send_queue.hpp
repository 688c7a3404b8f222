#pragma once

#include "proto/frame.hpp"

#include <cstddef>
#include <deque>

namespace chatd::net {

// A session's outbound messages: at most one being written, the rest waiting.
// Bounded in bytes, counting the one in flight: a push that would go over the
// bound is refused and the caller applies the slow-client rule.
class send_queue {
public:
  explicit send_queue(std::size_t max_bytes) : max_bytes_(max_bytes) {}

  // False (and nothing queued) when the frame would take the queue over its bound.
  bool push(frame_ptr f);

  // Moves the next waiting frame into flight. Precondition: !writing() && has_waiting().
  const frame& start_write();
  // The write of the frame in flight completed (or failed).
  void finish_write();

  // Drops every waiting frame and says how many; the one in flight stays
  // until finish_write().
  std::size_t drop_waiting();

  bool writing() const { return in_flight_ != nullptr; }
  bool has_waiting() const { return !waiting_.empty(); }
  std::size_t bytes() const { return bytes_; }
  std::size_t max_bytes() const { return max_bytes_; }

private:
  std::size_t max_bytes_;
  std::size_t bytes_ = 0;
  frame_ptr in_flight_;
  std::deque<frame_ptr> waiting_;
};

} // namespace chatd::net
