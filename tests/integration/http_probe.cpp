#include "http_probe.hpp"

#include "bounded_run.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address_v4.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/system/system_error.hpp>

#include <algorithm>
#include <array>

namespace chatd::itest {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using boost::system::error_code;
using tcp = asio::ip::tcp;

namespace {

// Never read more than this from a server that does not stop talking.
constexpr std::size_t raw_reply_limit = 1024 * 1024;

std::chrono::milliseconds remaining(std::chrono::steady_clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  return std::max(left, std::chrono::milliseconds(1));
}

error_code connect(asio::io_context& ioc, tcp::socket& socket, unsigned short port, std::chrono::milliseconds timeout) {
  const tcp::endpoint endpoint(asio::ip::address_v4::loopback(), port);
  return run_with_deadline(ioc, socket, timeout, [&](auto handler) { socket.async_connect(endpoint, handler); });
}

} // namespace

http_response http_get(unsigned short port, std::string_view target, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  asio::io_context ioc;
  tcp::socket socket(ioc);
  throw_if(connect(ioc, socket, port, remaining(deadline)), "http_get connect");

  http::request<http::empty_body> request(http::verb::get, target, 11);
  request.set(http::field::host, "127.0.0.1:" + std::to_string(port));
  request.keep_alive(false);
  throw_if(run_with_deadline(ioc, socket, remaining(deadline),
                             [&](auto handler) { http::async_write(socket, request, handler); }),
           "http_get write");

  boost::beast::flat_buffer buffer;
  http::response<http::string_body> response;
  throw_if(run_with_deadline(ioc, socket, remaining(deadline),
                             [&](auto handler) { http::async_read(socket, buffer, response, handler); }),
           "http_get read");

  error_code ignored;
  socket.shutdown(tcp::socket::shutdown_both, ignored);
  return http_response{response.result_int(), std::string(response[http::field::content_type]),
                       std::move(response.body())};
}

raw_reply raw_exchange(unsigned short port, std::string_view bytes, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  asio::io_context ioc;
  tcp::socket socket(ioc);
  throw_if(connect(ioc, socket, port, remaining(deadline)), "raw_exchange connect");
  throw_if(run_with_deadline(
               ioc, socket, remaining(deadline),
               [&](auto handler) { asio::async_write(socket, asio::buffer(bytes.data(), bytes.size()), handler); }),
           "raw_exchange write");

  raw_reply reply;
  std::array<char, 4096> chunk{};
  while (reply.data.size() < raw_reply_limit) {
    std::size_t received = 0;
    reply.end = run_with_deadline(ioc, socket, remaining(deadline), [&](auto handler) {
      socket.async_read_some(asio::buffer(chunk), [&received, handler](error_code ec, std::size_t n) mutable {
        received = n;
        handler(ec, n);
      });
    });
    reply.data.append(chunk.data(), received);
    if (reply.end)
      return reply;
  }
  reply.end = asio::error::message_size;
  return reply;
}

} // namespace chatd::itest
