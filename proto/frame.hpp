#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace chatd {

// Room left in front of a payload for the longest server frame header
// (2 bytes + 8 of length; a server never masks).
inline constexpr std::size_t frame_header_room = 10;

// One message as a client sent it, already encoded as the server frame every
// receiver gets: server frames are unmasked, so header + payload are the
// same bytes for all of them. Built once, then shared read-only by every
// queue that delivers it: receivers hold pointers, never copies.
//
// `wire` holds frame_header_room bytes of which the last `header` are the
// frame header, then the payload. A control frame (what Beast writes
// itself: the handshake answer, pong, ping, close) is the same type with
// `control` set and its bytes from `start` on.
struct frame {
  std::string room;
  std::string wire;
  std::uint8_t start = 0; // where the frame begins in `wire`
  bool binary = false;
  bool control = false;
  std::chrono::steady_clock::time_point received_at;

  std::string_view bytes() const { return {wire.data() + start, wire.size() - start}; }
  std::string_view payload() const {
    return control ? bytes() : std::string_view{wire.data() + frame_header_room, wire.size() - frame_header_room};
  }
};

using frame_ptr = std::shared_ptr<const frame>;

// Writes the header of an unmasked, final, text or binary frame in front of
// the payload held in f.wire from frame_header_room on.
void seal(frame& f);

// A message frame with a copy of `payload`.
std::shared_ptr<frame> make_message_frame(std::string room, std::string_view payload, bool binary,
                                          std::chrono::steady_clock::time_point received_at);

} // namespace chatd
