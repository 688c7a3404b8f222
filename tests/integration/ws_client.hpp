#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <boost/system/error_code.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace chatd::itest {

struct ws_message {
  bool binary = false;
  std::string data;

  friend bool operator==(const ws_message&, const ws_message&) = default;
  // GoogleTest's printer: opcode, size and an escaped prefix of the bytes.
  friend void PrintTo(const ws_message& message, std::ostream* out);
};

inline ws_message text_message(std::string data) { return ws_message{false, std::move(data)}; }

inline ws_message binary_message(std::string data) { return ws_message{true, std::move(data)}; }

struct close_result {
  std::optional<std::uint16_t> code; // set when a close frame arrived
  boost::system::error_code error;   // what ended reading: closed, eof, reset, timed_out...
  std::size_t messages_before_close = 0;
};

// A synchronous WebSocket client for tests: every call is bounded by
// `io_timeout` and throws boost::system::system_error on failure, so a test
// never hangs on a server that stays silent.
class ws_client {
public:
  explicit ws_client(std::chrono::milliseconds io_timeout = std::chrono::seconds(10));
  ~ws_client();

  ws_client(const ws_client&) = delete;
  ws_client& operator=(const ws_client&) = delete;

  // SO_RCVBUF applied before connecting: a small one makes a non-reading
  // client push back on the server quickly.
  void set_receive_buffer(int bytes) { receive_buffer_ = bytes; }
  // Offers permessage-deflate (Beast's client side: it compresses what it
  // sends and inflates what it gets when the server agrees).
  void enable_compression();
  // Sent as the Origin header of the handshake, as a browser would.
  void set_origin(std::string origin) { origin_ = std::move(origin); }
  // Another header of the handshake request (e.g. Authorization).
  void set_header(std::string name, std::string value) { headers_.emplace_back(std::move(name), std::move(value)); }
  // Offered as the handshake's Sec-WebSocket-Protocol (e.g. "chatd.v1");
  // subprotocol() is what the server selected, empty when none.
  void set_subprotocol(std::string offer) { subprotocol_offer_ = std::move(offer); }
  const std::string& subprotocol() const { return subprotocol_; }

  // Throws unless the upgrade succeeds.
  void connect(unsigned short port, std::string_view target = "/");
  // Returns the handshake's HTTP status: 101 when upgraded, the server's
  // status when it declined. Throws when there is no usable response.
  unsigned try_connect(unsigned short port, std::string_view target);

  void send_text(std::string_view data);
  void send_binary(std::string_view data);
  // One text message in these frames (the client does not check UTF-8).
  void send_text_fragments(const std::vector<std::string>& parts);
  ws_message read();
  // Reads (and drops) data messages until the connection ends, at most
  // `max_messages` of them.
  close_result read_close_code(std::size_t max_messages = 10'000);

  // Close handshake with code 1000.
  void close();
  // Closes the TCP connection without a close frame.
  void drop();

private:
  void open_tcp(unsigned short port);
  void write(std::string_view data, bool binary);
  boost::system::error_code read_into_buffer();

  std::chrono::milliseconds io_timeout_;
  int receive_buffer_ = 0;
  std::string origin_;
  std::vector<std::pair<std::string, std::string>> headers_;
  std::string subprotocol_offer_;
  std::string subprotocol_;
  boost::asio::io_context ioc_;
  boost::beast::websocket::stream<boost::asio::ip::tcp::socket> ws_;
  boost::beast::flat_buffer buffer_;
};

} // namespace chatd::itest
