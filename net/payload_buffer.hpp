#pragma once

#include "proto/frame.hpp"

#include <boost/asio/buffer.hpp>

#include <algorithm>
#include <cstdint>
#include <string>

namespace chatd::net {

// A DynamicBuffer (Asio's v1 kind, what Beast's reads take) over a string
// that keeps frame_header_room bytes in front of what is read: a message is
// read straight into the storage of the frame that will carry it.
//
// Holds at most `max` bytes: Beast sizes its reads of a compressed frame by
// the frame's declared length, which a client chooses (found by
// tests/fuzz: 2^56 bytes asked for), so prepare() gives no more than is
// left of the bound (at least a byte). `max` is over --max-message-bytes,
// so Beast's own limit on the inflated message (1009) comes first. (Beast
// only uses the buffers prepare() returns, whatever their size; a
// max_size() this small would instead fail the stream with no close frame.)
class payload_buffer {
public:
  using const_buffers_type = boost::asio::const_buffer;
  using mutable_buffers_type = boost::asio::mutable_buffer;

  payload_buffer(std::string& s, std::size_t max)
    : s_(s)
    , max_(static_cast<std::uint32_t>(std::min<std::size_t>(max, UINT32_MAX))) {}

  // Starts a message: the string holds only the header room.
  void reset() { s_.assign(frame_header_room, '\0'); }

  std::size_t size() const { return s_.size() - frame_header_room - prepared_; }
  std::size_t max_size() const { return s_.max_size() - frame_header_room; }
  std::size_t capacity() const { return s_.capacity() - frame_header_room; }
  const_buffers_type data() const { return {s_.data() + frame_header_room, size()}; }
  mutable_buffers_type prepare(std::size_t n) {
    auto used = s_.size() - prepared_;
    n = std::max<std::size_t>(1, std::min<std::size_t>(n, max_ > size() ? max_ - size() : 0));
    if (s_.capacity() < used + n)
      s_.reserve(std::max(2 * s_.capacity(), used + n));
    s_.resize(used + n);
    prepared_ = static_cast<std::uint32_t>(n);
    return {s_.data() + used, n};
  }
  void commit(std::size_t n) {
    n = std::min<std::size_t>(n, prepared_);
    s_.resize(s_.size() - prepared_ + n);
    prepared_ = 0;
  }
  void consume(std::size_t n) { s_.erase(frame_header_room, std::min(n, size())); }

private:
  std::string& s_;
  std::uint32_t prepared_ = 0; // at most max_
  std::uint32_t max_;
};

} // namespace chatd::net
