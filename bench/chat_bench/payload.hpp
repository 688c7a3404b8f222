// Payload carried by every chat-bench message (64 bytes, little-endian):
//   [0,4)   magic "CBv1"
//   [4,8)   publisher id
//   [8,16)  sequence number (per publisher, from 0)
//   [16,24) send time, steady clock nanoseconds
//   [24,64) filler ('x')
// and the client frame that carries it: a binary frame, FIN, masked, with a
// fixed mask key. The frame is built (and pre-masked) once; per message only
// the 20 bytes of id/sequence/time are masked into place, so sending
// allocates nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace chatbench {

constexpr std::size_t kPayloadSize = 64;
constexpr uint32_t kMagic = 0x31764243; // "CBv1" little-endian
constexpr std::size_t kFrameHeader = 6; // 2 bytes + 4-byte mask (payload < 126)
constexpr std::size_t kFrameSize = kFrameHeader + kPayloadSize;

struct Payload {
  uint32_t publisher = 0;
  uint64_t seq = 0;
  uint64_t sent_ns = 0;
};

inline void encode_payload(uint8_t* p, const Payload& m) noexcept {
  std::memcpy(p, &kMagic, 4);
  std::memcpy(p + 4, &m.publisher, 4);
  std::memcpy(p + 8, &m.seq, 8);
  std::memcpy(p + 16, &m.sent_ns, 8);
  std::memset(p + 24, 'x', kPayloadSize - 24);
}

inline bool decode_payload(const uint8_t* p, std::size_t n, Payload& m) noexcept {
  if (n != kPayloadSize)
    return false;
  uint32_t magic;
  std::memcpy(&magic, p, 4);
  if (magic != kMagic)
    return false;
  std::memcpy(&m.publisher, p + 4, 4);
  std::memcpy(&m.seq, p + 8, 8);
  std::memcpy(&m.sent_ns, p + 16, 8);
  return true;
}

// A pre-masked client frame; stamp() rewrites id/seq/time in place.
class ClientFrame {
public:
  explicit ClientFrame(uint32_t mask_seed = 0x9e3779b9u) noexcept {
    mask_[0] = static_cast<uint8_t>(mask_seed);
    mask_[1] = static_cast<uint8_t>(mask_seed >> 8);
    mask_[2] = static_cast<uint8_t>(mask_seed >> 16);
    mask_[3] = static_cast<uint8_t>(mask_seed >> 24);
  }
  // Writes a whole frame (header, mask, masked payload) into out[kFrameSize].
  void build(uint8_t* out, const Payload& m) const noexcept {
    out[0] = 0x82; // FIN | binary
    out[1] = 0x80 | static_cast<uint8_t>(kPayloadSize);
    std::memcpy(out + 2, mask_, 4);
    uint8_t* p = out + kFrameHeader;
    encode_payload(p, m);
    for (std::size_t i = 0; i < kPayloadSize; ++i)
      p[i] ^= mask_[i & 3];
  }
  // Rewrites bytes [4,24) of the payload of a frame made by build().
  void stamp(uint8_t* frame, const Payload& m) const noexcept {
    uint8_t plain[20];
    std::memcpy(plain, &m.publisher, 4);
    std::memcpy(plain + 4, &m.seq, 8);
    std::memcpy(plain + 12, &m.sent_ns, 8);
    uint8_t* p = frame + kFrameHeader + 4;
    for (std::size_t i = 0; i < 20; ++i)
      p[i] = plain[i] ^ mask_[(i + 4) & 3];
  }
  static void unmask(uint8_t* p, std::size_t n, const uint8_t mask[4]) noexcept {
    for (std::size_t i = 0; i < n; ++i)
      p[i] ^= mask[i & 3];
  }
  const uint8_t* mask() const noexcept { return mask_; }

private:
  uint8_t mask_[4];
};

// The header of one frame a server sent, read from the `avail` bytes at `b`.
struct ServerFrame {
  uint8_t opcode = 0;
  std::size_t header = 0; // bytes before the payload
  uint64_t length = 0;    // payload bytes
};
enum class FrameParse { need_more, complete, masked };

// need_more until the whole header is there; masked for a frame no server
// may send. The payload may still be incomplete when it says complete.
inline FrameParse parse_server_frame(const uint8_t* b, std::size_t avail, ServerFrame& f) noexcept {
  if (avail < 2)
    return FrameParse::need_more;
  if (b[1] & 0x80)
    return FrameParse::masked;
  f.opcode = b[0] & 0x0f;
  f.length = b[1] & 0x7f;
  f.header = 2;
  if (f.length == 126) {
    if (avail < 4)
      return FrameParse::need_more;
    f.length = (uint64_t{b[2]} << 8) | b[3];
    f.header = 4;
  } else if (f.length == 127) {
    if (avail < 10)
      return FrameParse::need_more;
    f.length = 0;
    for (int i = 0; i < 8; ++i)
      f.length = (f.length << 8) | b[2 + i];
    f.header = 10;
  }
  return FrameParse::complete;
}

} // namespace chatbench
