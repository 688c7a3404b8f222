#pragma once

#include "net/http_routes.hpp"
#include "net/identity.hpp"
#include "net/session_stream.hpp"

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <memory>
#include <optional>

namespace chatd::net {

class io_loop;

// One plain HTTP connection: reads requests (keep-alive), answers them, and
// hands a WebSocket upgrade over to a websocket_session.
class http_session : public std::enable_shared_from_this<http_session> {
public:
  http_session(loop_socket&& socket, io_loop& loop);
  ~http_session();

  void run();
  // The server is stopping: drop the connection.
  void shutdown();

private:
  void do_read();
  void on_header(boost::beast::error_code ec, std::size_t bytes);
  void read_body();
  void on_read(boost::beast::error_code ec, std::size_t bytes);
  void upgrade();
  // With --auth-jwt-key: the identity of the request's token, or nothing
  // after answering 401 or 403. Without: anonymous.
  std::optional<identity> authenticate(const std::string& room);
  // Counts and (rate-limited) logs a refused upgrade.
  void refuse(refusal_reason reason, std::string_view why);
  void respond(http_response res);
  void on_write(bool keep_alive, boost::beast::error_code ec, std::size_t bytes);

  boost::beast::basic_stream<boost::asio::ip::tcp, boost::asio::io_context::executor_type> stream_;
  boost::beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<http_response> response_;
  io_loop& loop_;
};

} // namespace chatd::net
