// Fuzzes chatd's WebSocket sessions as a client reaches them: each input is
// the bytes a client sends after a valid upgrade to /rooms/fuzz (frames,
// masked or not, whole or in pieces), written to chatd's real network side
// over loopback. chatd publishes what it reads to the room, so the client
// gets its own messages back (twice: once from its loop, once through the
// harness's stand-in for another loop). Whatever chatd sends must be
// well-formed WebSocket frames (see check_server_frames), and the session
// must be gone once the connection is.
//
// Built twice: chatd_fuzz_websocket offers no extension; with
// CHATD_FUZZ_DEFLATE (chatd_fuzz_websocket_deflate) the upgrade offers
// permessage-deflate, the input's first byte picks which offer (the browsers'
// one, a window of 8 with no client context takeover, a 512-byte client
// window), the rest is frames again, compressed (RSV1) or not, and chatd's
// compressed frames must inflate to well-formed messages.
#include "tests/fuzz/harness.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace {

constexpr std::string_view upgrade = "GET /rooms/fuzz HTTP/1.1\r\n"
                                     "Host: 127.0.0.1\r\n"
                                     "Upgrade: websocket\r\n"
                                     "Connection: Upgrade\r\n"
                                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                     "Sec-WebSocket-Version: 13\r\n";

#ifdef CHATD_FUZZ_DEFLATE
constexpr std::string_view offers[] = {
    "permessage-deflate; client_max_window_bits",
    "permessage-deflate; server_max_window_bits=8; client_no_context_takeover",
    "permessage-deflate; client_max_window_bits=9",
};
#endif

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  chatd::fuzz::server_port(); // starts the server once, before the first input
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string request{upgrade};
  bool deflate = false;
#ifdef CHATD_FUZZ_DEFLATE
  if (size == 0)
    return 0;
  request += "Sec-WebSocket-Extensions: " + std::string{offers[data[0] % std::size(offers)]} + "\r\n";
  ++data;
  --size;
  deflate = true;
#endif
  request += "\r\n";
  chatd::fuzz::client client{chatd::fuzz::server_port()};
  std::string head = client.request(request, "\r\n\r\n");
  if (!head.starts_with("HTTP/1.1 101 "))
    chatd::fuzz::fail("chatd refused a valid WebSocket upgrade", head);
  if (deflate != (head.find("Sec-WebSocket-Extensions: permessage-deflate") != std::string::npos))
    chatd::fuzz::fail(deflate ? "chatd declined a valid permessage-deflate offer"
                              : "chatd answered an extension nobody offered",
                      head);
  // Anything after the response's head is already frames.
  std::string frames = head.substr(head.find("\r\n\r\n") + 4);
  frames += client.exchange(data, size);
  chatd::fuzz::check_server_frames(frames, deflate);
  chatd::fuzz::expect_no_sessions();
  return 0;
}
