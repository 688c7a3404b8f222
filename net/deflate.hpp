#pragma once

#include "proto/frame.hpp"

#include <prometheus/counter.h>

#include <optional>
#include <string>
#include <string_view>

namespace chatd::net {

// permessage-deflate (RFC 7692) as chatd speaks it. Beast negotiates the
// extension and inflates what clients send; what chatd sends leaves through
// its own writer, so the compressed frames are made here: once per message,
// shared by every receiver that can take them (see frame::deflated).
//
// chatd always answers with server_no_context_takeover: every message is
// compressed on its own, so its compressed bytes are the same for every
// receiver, whatever else each of them was sent.

// The server_max_window_bits of the client's first permessage-deflate offer
// in a Sec-WebSocket-Extensions request header (the offer Beast answers):
// 8..15, 0 when absent or when there is no such offer.
int offered_server_window_bits(std::string_view request_extensions);

// What a Sec-WebSocket-Extensions response header agreed to: the window
// (server_max_window_bits, 15 when absent) that frames to this client may
// use, or 0 when it does not enable permessage-deflate.
int agreed_server_window_bits(std::string_view response_extensions);

// Beast answers an offer of server_max_window_bits=8 with 9 (zlib cannot
// compress with a 256-byte window); RFC 7692 7.1.2.1 allows no more than
// the offer. chatd's compressed frames fit any window they are sent to (see
// fits_window), so the answer may say 8: returns the corrected header.
std::string honour_offered_window(std::string_view response_extensions, int offered_bits);

// Whether a message of `payload_bytes` compressed with a 32 KiB window may go
// to a client that agreed to `window_bits`: without context takeover a
// back-reference never reaches further back than the message's own start.
constexpr bool fits_window(std::size_t payload_bytes, int window_bits) {
  return window_bits >= 15 || payload_bytes <= (std::size_t{1} << window_bits);
}

// `f`'s message compressed as one final frame with RSV1 set, or null when
// compressing does not make it smaller. Uses a compressor of the calling
// thread's own.
frame_ptr deflate_message(const frame& f);

// `f` compressed (deflate_message), made by the first caller on any thread
// (which counts it in `made`) and kept with the frame; null when it would
// not be smaller.
const frame_ptr& compressed_form(const frame& f, prometheus::Counter* made = nullptr);

// Inflates one message's compressed payload (what deflate_message made, or
// any client's), for tests and checks: nullopt if it is not valid deflate
// data or inflates beyond `max_bytes`.
std::optional<std::string> inflate_message(std::string_view payload, std::size_t max_bytes);

} // namespace chatd::net
