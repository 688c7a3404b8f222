#pragma once

#include <boost/asio/async_result.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/buffers_range.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/role.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/beast/websocket/teardown.hpp>

#include <string>

namespace chatd::net {

class websocket_session;

// A connection's socket, bound to its loop's io_context: smaller than
// tcp::socket (no type-erased executor), and so is every pending operation
// on it (each holds a copy of the executor).
using loop_socket = boost::asio::basic_stream_socket<boost::asio::ip::tcp, boost::asio::io_context::executor_type>;

// What the stream needs of its session (implemented in websocket_session.cpp).
namespace session_writer {
// Appends bytes Beast wrote to the session's outbound queue, whole.
void queue_control(websocket_session& session, std::string bytes);
// Writes what the socket takes now; true once nothing is left (or the
// connection broke), false while the socket is full.
bool drain(websocket_session& session);
} // namespace session_writer

// The next layer under Beast's WebSocket stream: reads go straight to the
// socket; writes (the handshake answer and the control frames Beast sends
// on its own: pong, ping, close) are copied whole into the session's
// outbound queue, behind the message frames already there, and leave with
// them in the session's gather writes. So no frame can be interleaved inside
// another, however the socket splits the writes.
class session_stream {
public:
  using executor_type = loop_socket::executor_type;

  explicit session_stream(loop_socket&& socket) : socket_(std::move(socket)) {}

  void attach(websocket_session& session) { session_ = &session; }
  loop_socket& socket() { return socket_; }
  executor_type get_executor() noexcept { return socket_.get_executor(); }

  template <class MutableBufferSequence, class ReadHandler>
  auto async_read_some(const MutableBufferSequence& buffers, ReadHandler&& handler) {
    return socket_.async_read_some(buffers, std::forward<ReadHandler>(handler));
  }

  // Completes (through the executor, never inline) once the bytes are queued.
  template <class ConstBufferSequence, class WriteHandler>
  auto async_write_some(const ConstBufferSequence& buffers, WriteHandler&& handler) {
    return boost::asio::async_initiate<WriteHandler, void(boost::beast::error_code, std::size_t)>(
        [this](auto h, const ConstBufferSequence& b) {
          std::string bytes;
          for (auto piece : boost::beast::buffers_range_ref(b))
            bytes.append(static_cast<const char*>(piece.data()), piece.size());
          auto n = bytes.size();
          session_writer::queue_control(*session_, std::move(bytes));
          boost::asio::post(socket_.get_executor(),
                            boost::beast::bind_front_handler(std::move(h), boost::beast::error_code{}, n));
        },
        handler, buffers);
  }

  websocket_session& session() { return *session_; }

private:
  loop_socket socket_;
  websocket_session* session_ = nullptr;
};

namespace detail {

// Beast's teardown, once everything queued (the close frame last) is written.
struct teardown_op {
  session_stream& stream;
  boost::beast::role_type role;
  bool draining = true;

  template <class Self>
  void operator()(Self& self, boost::beast::error_code ec = {}) {
    if (draining && !ec) {
      if (!session_writer::drain(stream.session())) {
        stream.socket().async_wait(boost::asio::socket_base::wait_write, std::move(self));
        return;
      }
      draining = false;
      boost::beast::websocket::async_teardown(role, stream.socket(), std::move(self));
      return;
    }
    self.complete(ec);
  }
};

} // namespace detail

// Found by Beast through argument-dependent lookup.
template <class TeardownHandler>
void async_teardown(boost::beast::role_type role, session_stream& stream, TeardownHandler&& handler) {
  boost::asio::async_compose<TeardownHandler, void(boost::beast::error_code)>(detail::teardown_op{stream, role},
                                                                              handler, stream.socket());
}

// Found by Beast through argument-dependent lookup, when it fails a stream.
inline void beast_close_socket(session_stream& stream) {
  boost::beast::error_code ignored;
  stream.socket().close(ignored);
}

void teardown(boost::beast::role_type role, session_stream& stream, boost::beast::error_code& ec);

} // namespace chatd::net
