#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
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
// What a message's payload is: a raw client's text or binary message, or
// the `data` of a chatd.v1 client's publish as compact JSON text (which raw
// clients get as a text message). See net/v1_protocol.hpp.
enum class message_kind : std::uint8_t { text, binary, json };

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
  bool compressed = false; // permessage-deflate: RSV1 set, the payload is deflate data
  // The wire already is a chatd.v1 envelope meant for v1 clients only (an
  // event such as a join): raw clients never get it.
  bool v1_only = false;
  message_kind kind = message_kind::text;
  std::chrono::steady_clock::time_point received_at;
  // Who sent it (empty user: anonymous) and when the server read it, in ms
  // since the epoch: for the envelopes of v1 clients.
  std::string user;
  std::string name;
  std::int64_t ts_ms = 0;
  // Its place in the room's one order (docs/DESIGN.md "Order, history and
  // resume"): set once by the room's sequencer, before any receiver gets
  // the frame (mutable: the loop that read it shares it already). 0: not
  // ordered (events, control frames, a cluster without order).
  mutable std::uint64_t offset = 0;
  mutable std::shared_ptr<const std::string> epoch;

  // The same message compressed, made once, by the first receiver that
  // negotiated compression (see net::compressed_form); null if compressing
  // does not make it smaller. Written only under deflate_once.
  mutable std::once_flag deflate_once;
  mutable std::shared_ptr<const frame> deflated;
  // The chatd.v1 envelope of the message, made once, by the first v1
  // receiver (see net::v1_form). Written only under v1_once.
  mutable std::once_flag v1_once;
  mutable std::shared_ptr<const frame> v1_envelope;

  frame() = default;
  frame(const frame&) = delete;
  frame& operator=(const frame&) = delete;
  // The forms above may have been made on another loop than the one that
  // drops the last reference. Passing each once_flag orders their writes
  // before this destructor's reads in a way ThreadSanitizer can see too (the
  // frame reached this loop through CAF's mailbox, which it cannot see
  // into); a once_flag already passed costs a load.
  ~frame() {
    std::call_once(deflate_once, [] {});
    std::call_once(v1_once, [] {});
  }

  std::string_view bytes() const { return {wire.data() + start, wire.size() - start}; }
  std::string_view payload() const {
    return control ? bytes() : std::string_view{wire.data() + frame_header_room, wire.size() - frame_header_room};
  }
};

using frame_ptr = std::shared_ptr<const frame>;

// Writes the header of an unmasked, final, text or binary frame (RSV1 set
// when f.compressed) in front of the payload held in f.wire from
// frame_header_room on.
void seal(frame& f);

// A message frame with a copy of `payload`.
std::shared_ptr<frame> make_message_frame(std::string room, std::string_view payload, bool binary,
                                          std::chrono::steady_clock::time_point received_at);

} // namespace chatd
