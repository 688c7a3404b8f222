// What both fuzz targets share: chatd's real network side running in this
// process, a loopback client bounded in time, and checks on what chatd
// answers. See README.md next to this file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace chatd::fuzz {

// The port of chatd's network side (net::server, one loop, on a free
// 127.0.0.1 port): started on first use, stopped when the process exits.
std::uint16_t server_port();

// One blocking TCP connection to 127.0.0.1. Every call is bounded in time;
// a connection the server keeps open too long is reported as a finding.
class client {
public:
  explicit client(std::uint16_t port);
  // Closes with a reset, so millions of inputs leave no TIME_WAIT sockets.
  ~client();
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  // Sends `request` and reads until `delimiter` has arrived; returns all that
  // was read (empty if the server closed or said nothing in time).
  std::string request(std::string_view request, std::string_view delimiter);
  // Sends `data` while reading whatever comes back, then shuts down the
  // sending side and reads until the server closes. Returns all that was read.
  std::string exchange(const std::uint8_t* data, std::size_t size);

private:
  int fd_;
};

// Waits until chatd holds no WebSocket session any more (chat_connections
// is 0): a session must end with its connection. Reports a finding if one is
// still there 5 s after the connection closed.
void expect_no_sessions();

// Reports a broken expectation (what chatd answered and why it is wrong) on
// stderr and aborts, which libFuzzer records as a crash with the input.
[[noreturn]] void fail(std::string_view what, std::string_view received);

// The WebSocket frames chatd sent (no HTTP before them): each must be
// well formed for a server (unmasked, known opcode, no reserved bits, whole
// messages, control frames short), text must be UTF-8, a close must carry a
// code a server may send, and nothing may follow a close. A frame cut short
// at the end is accepted: the connection may have been reset under it.
// With `deflate` (permessage-deflate negotiated), data frames may have RSV1
// set: their payload must then inflate, and a text one to UTF-8.
void check_server_frames(std::string_view bytes, bool deflate = false);

} // namespace chatd::fuzz
