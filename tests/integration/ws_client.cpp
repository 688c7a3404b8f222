#include "ws_client.hpp"

#include "bounded_run.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/address_v4.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/websocket/error.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/system/system_error.hpp>

#include <algorithm>
#include <string>

namespace chatd::itest {

namespace asio = boost::asio;
namespace websocket = boost::beast::websocket;
using boost::system::error_code;
using tcp = asio::ip::tcp;

void PrintTo(const ws_message& message, std::ostream* out) {
  constexpr std::size_t shown = 80;
  *out << (message.binary ? "binary" : "text") << "[" << message.data.size() << "] \"";
  for (std::size_t i = 0; i < std::min(shown, message.data.size()); ++i) {
    const auto c = static_cast<unsigned char>(message.data[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\' && c != '"')
      *out << c;
    else
      *out << "\\x"
           << "0123456789abcdef"[c >> 4] << "0123456789abcdef"[c & 0xf];
  }
  *out << (message.data.size() > shown ? "\"..." : "\"");
}

ws_client::ws_client(std::chrono::milliseconds io_timeout) : io_timeout_(io_timeout), ws_(ioc_) {}

void ws_client::enable_compression() {
  websocket::permessage_deflate pmd;
  pmd.client_enable = true;
  ws_.set_option(pmd);
}

ws_client::~ws_client() { drop(); }

void ws_client::open_tcp(unsigned short port) {
  auto& socket = ws_.next_layer();
  socket.open(tcp::v4());
  if (receive_buffer_ > 0)
    socket.set_option(asio::socket_base::receive_buffer_size(receive_buffer_));
  const tcp::endpoint endpoint(asio::ip::address_v4::loopback(), port);
  throw_if(run_with_deadline(ioc_, socket, io_timeout_, [&](auto handler) { socket.async_connect(endpoint, handler); }),
           "ws_client connect");
  // Beast writes a masked client message in 4 KiB pieces; with Nagle the
  // last piece waits for the server's delayed ACK (40 ms per message).
  socket.set_option(tcp::no_delay(true));
}

unsigned ws_client::try_connect(unsigned short port, std::string_view target) {
  open_tcp(port);
  websocket::response_type response;
  const std::string host = "127.0.0.1:" + std::to_string(port);
  if (!origin_.empty() || !headers_.empty() || !subprotocol_offer_.empty())
    ws_.set_option(websocket::stream_base::decorator(
        [origin = origin_, headers = headers_, offer = subprotocol_offer_](websocket::request_type& req) {
          if (!origin.empty())
            req.set(boost::beast::http::field::origin, origin);
          for (const auto& [name, value] : headers)
            req.set(name, value);
          if (!offer.empty())
            req.set(boost::beast::http::field::sec_websocket_protocol, offer);
        }));
  const error_code ec = run_with_deadline(ioc_, ws_.next_layer(), io_timeout_,
                                          [&](auto handler) { ws_.async_handshake(response, host, target, handler); });
  subprotocol_ = std::string(response[boost::beast::http::field::sec_websocket_protocol]);
  if (!ec || ec == websocket::error::upgrade_declined)
    return response.result_int();
  throw boost::system::system_error(ec, "ws_client handshake on " + std::string(target));
}

void ws_client::connect(unsigned short port, std::string_view target) {
  const unsigned status = try_connect(port, target);
  if (status != 101)
    throw boost::system::system_error(websocket::error::upgrade_declined, "ws_client handshake on " +
                                                                              std::string(target) + " got HTTP " +
                                                                              std::to_string(status));
}

void ws_client::send_text(std::string_view data) { write(data, false); }

void ws_client::send_binary(std::string_view data) { write(data, true); }

void ws_client::write(std::string_view data, bool binary) {
  ws_.binary(binary);
  throw_if(run_with_deadline(ioc_, ws_.next_layer(), io_timeout_,
                             [&](auto handler) { ws_.async_write(asio::buffer(data.data(), data.size()), handler); }),
           "ws_client write");
}

void ws_client::send_text_fragments(const std::vector<std::string>& parts) {
  ws_.binary(false);
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const bool last = i + 1 == parts.size();
    throw_if(run_with_deadline(ioc_, ws_.next_layer(), io_timeout_,
                               [&](auto handler) {
                                 ws_.async_write_some(last, asio::buffer(parts[i].data(), parts[i].size()), handler);
                               }),
             "ws_client write fragment");
  }
}

error_code ws_client::read_into_buffer() {
  buffer_.clear();
  return run_with_deadline(ioc_, ws_.next_layer(), io_timeout_,
                           [&](auto handler) { ws_.async_read(buffer_, handler); });
}

ws_message ws_client::read() {
  const error_code ec = read_into_buffer();
  if (ec == asio::error::timed_out)
    throw_if(ec, "ws_client read: nothing within " + std::to_string(io_timeout_.count()) + " ms");
  throw_if(ec, "ws_client read");
  return ws_message{ws_.got_binary(), boost::beast::buffers_to_string(buffer_.data())};
}

close_result ws_client::read_close_code(std::size_t max_messages) {
  close_result result;
  for (;;) {
    const error_code ec = read_into_buffer();
    if (!ec) {
      if (++result.messages_before_close > max_messages) {
        result.error = asio::error::message_size;
        return result;
      }
      continue;
    }
    result.error = ec;
    // A close frame may have arrived even when replying to it then failed.
    if (ws_.reason().code != websocket::close_code::none)
      result.code = static_cast<std::uint16_t>(ws_.reason().code);
    return result;
  }
}

void ws_client::close() {
  throw_if(run_with_deadline(ioc_, ws_.next_layer(), io_timeout_,
                             [&](auto handler) { ws_.async_close(websocket::close_code::normal, handler); }),
           "ws_client close");
}

void ws_client::drop() {
  error_code ignored;
  ws_.next_layer().shutdown(tcp::socket::shutdown_both, ignored);
  ws_.next_layer().close(ignored);
}

} // namespace chatd::itest
