#pragma once

#include "proto/frame.hpp"

#include <boost/asio/buffer.hpp>

#include <string>

namespace chatd::net {

// A DynamicBuffer (Asio's v1 kind, what Beast's reads take) over a string
// that keeps frame_header_room bytes in front of what is read: a message is
// read straight into the storage of the frame that will carry it.
class payload_buffer {
public:
  using const_buffers_type = boost::asio::const_buffer;
  using mutable_buffers_type = boost::asio::mutable_buffer;

  explicit payload_buffer(std::string& s) : s_(s) {}

  // Starts a message: the string holds only the header room.
  void reset() { s_.assign(frame_header_room, '\0'); }

  std::size_t size() const { return s_.size() - frame_header_room - prepared_; }
  std::size_t max_size() const { return s_.max_size() - frame_header_room; }
  std::size_t capacity() const { return s_.capacity() - frame_header_room; }
  const_buffers_type data() const { return {s_.data() + frame_header_room, size()}; }
  mutable_buffers_type prepare(std::size_t n) {
    auto used = s_.size() - prepared_;
    if (s_.capacity() < used + n)
      s_.reserve(std::max(2 * s_.capacity(), used + n));
    s_.resize(used + n);
    prepared_ = n;
    return {s_.data() + used, n};
  }
  void commit(std::size_t n) {
    n = std::min(n, prepared_);
    s_.resize(s_.size() - prepared_ + n);
    prepared_ = 0;
  }
  void consume(std::size_t n) { s_.erase(frame_header_room, std::min(n, size())); }

private:
  std::string& s_;
  std::size_t prepared_ = 0;
};

} // namespace chatd::net
