#include "proto/frame.hpp"

#include <cassert>

namespace chatd {

void seal(frame& f) {
  assert(f.wire.size() >= frame_header_room);
  const std::uint64_t length = f.wire.size() - frame_header_room;
  // RFC 6455 5.2: FIN (+ RSV1, RFC 7692 6) + opcode, then the shortest
  // length form (no mask bit).
  unsigned char header[frame_header_room];
  std::size_t n = 0;
  header[n++] = static_cast<unsigned char>(0x80 | (f.compressed ? 0x40 : 0) | (f.binary ? 0x2 : 0x1));
  if (length < 126) {
    header[n++] = static_cast<unsigned char>(length);
  } else if (length <= 0xffff) {
    header[n++] = 126;
    header[n++] = static_cast<unsigned char>(length >> 8);
    header[n++] = static_cast<unsigned char>(length);
  } else {
    header[n++] = 127;
    for (int shift = 56; shift >= 0; shift -= 8)
      header[n++] = static_cast<unsigned char>(length >> shift);
  }
  f.start = static_cast<std::uint8_t>(frame_header_room - n);
  f.wire.replace(f.start, n, reinterpret_cast<const char*>(header), n);
}

std::shared_ptr<frame> make_message_frame(std::string room, std::string_view payload, bool binary,
                                          std::chrono::steady_clock::time_point received_at) {
  auto f = std::make_shared<frame>();
  f->room = std::move(room);
  f->wire.reserve(frame_header_room + payload.size());
  f->wire.assign(frame_header_room, '\0');
  f->wire.append(payload);
  f->binary = binary;
  f->kind = binary ? message_kind::binary : message_kind::text;
  f->received_at = received_at;
  seal(*f);
  return f;
}

} // namespace chatd
