// Fuzzes chatd's WebSocket sessions as a client reaches them: each input is
// the bytes a client sends after a valid upgrade to /rooms/fuzz (frames,
// masked or not, whole or in pieces), written to chatd's real network side
// over loopback. chatd publishes what it reads to the room, so the client
// gets its own messages back (twice: once from its loop, once through the
// harness's stand-in for another loop). Whatever chatd sends must be
// well-formed WebSocket frames (see check_server_frames), and the session
// must be gone once the connection is.
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
                                     "Sec-WebSocket-Version: 13\r\n"
                                     "\r\n";

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  chatd::fuzz::server_port(); // starts the server once, before the first input
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  chatd::fuzz::client client{chatd::fuzz::server_port()};
  std::string head = client.request(upgrade, "\r\n\r\n");
  if (!head.starts_with("HTTP/1.1 101 "))
    chatd::fuzz::fail("chatd refused a valid WebSocket upgrade", head);
  // Anything after the response's head is already frames.
  std::string frames = head.substr(head.find("\r\n\r\n") + 4);
  frames += client.exchange(data, size);
  chatd::fuzz::check_server_frames(frames);
  chatd::fuzz::expect_no_sessions();
  return 0;
}
