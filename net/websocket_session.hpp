#pragma once

#include "net/admission.hpp"
#include "net/http_routes.hpp"
#include "net/send_queue.hpp"
#include "proto/chat_metrics.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include <memory>
#include <string>

namespace chatd::net {

class io_loop;

// One WebSocket client in one room. Owns its socket, read buffer and outbound
// queue; lives on its loop's thread only, for as long as it has a pending
// handler. It is in its loop's room table from a successful handshake until
// it is destroyed.
class websocket_session : public std::enable_shared_from_this<websocket_session> {
public:
  // `admitted`: the session holds a connection slot of its loop's admission
  // and joins its room; otherwise it completes the handshake only to close
  // with 1013 (try again later).
  websocket_session(boost::asio::ip::tcp::socket&& socket, io_loop& loop, std::string room, bool admitted = true);
  ~websocket_session();

  // Completes the upgrade this request asked for.
  void run(http_request req);

  // Queues a message for this client. Over the queue bound the client is
  // closed as a slow consumer; the caller never waits.
  void send(const frame_ptr& f);

  // Closes with 1001 (going away): the server is stopping.
  void shutdown();

  const std::string& room() const { return room_; }

private:
  void on_accept(boost::beast::error_code ec);
  void do_read();
  void on_read(boost::beast::error_code ec, std::size_t bytes);
  void do_write();
  void on_write(boost::beast::error_code ec, std::size_t bytes);
  // Starts the close handshake with `code`; the socket is closed under it
  // if the peer has not finished the handshake within close_grace.
  void close(boost::beast::websocket::close_code code, std::string_view why, close_reason reason);

  boost::beast::websocket::stream<boost::beast::tcp_stream> ws_;
  boost::beast::flat_buffer buffer_;
  io_loop& loop_;
  std::string room_;
  send_queue queue_;
  token_bucket messages_;
  boost::asio::steady_timer close_timer_;
  bool admitted_;
  bool accepted_ = false; // the WebSocket handshake is done
  bool joined_ = false;
  bool closing_ = false;
  close_reason reason_ = close_reason::client;
};

} // namespace chatd::net
