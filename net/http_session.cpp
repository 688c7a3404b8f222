#include "net/http_session.hpp"

#include "net/admission.hpp"
#include "net/io_loop.hpp"
#include "net/websocket_session.hpp"
#include "proto/room_name.hpp"

#include <spdlog/spdlog.h>

namespace chatd::net {

namespace beast = boost::beast;
namespace websocket = beast::websocket;

namespace {
constexpr std::uint32_t header_limit = 8 * 1024;
constexpr std::uint64_t body_limit = 64 * 1024;
} // namespace

http_session::http_session(loop_socket&& socket, io_loop& loop) : stream_(std::move(socket)), loop_(loop) {
  loop_.track(*this);
}

http_session::~http_session() { loop_.untrack(*this); }

void http_session::run() { do_read(); }

void http_session::shutdown() {
  beast::error_code ignored;
  stream_.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
  stream_.close();
}

void http_session::do_read() {
  parser_.emplace();
  parser_->header_limit(header_limit);
  parser_->body_limit(body_limit);
  stream_.expires_after(loop_.options().http_timeout);
  http::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&http_session::on_read, shared_from_this()));
}

void http_session::on_read(beast::error_code ec, std::size_t) {
  if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == boost::asio::error::eof ||
      ec == boost::asio::error::operation_aborted || ec == boost::asio::error::connection_reset) {
    stream_.close();
    return;
  }
  if (ec == http::error::header_limit) {
    respond(text_response(http::status::request_header_fields_too_large, "request header too large"));
    return;
  }
  if (ec == http::error::body_limit) {
    respond(text_response(http::status::payload_too_large, "request body too large"));
    return;
  }
  if (ec) {
    // Anything else the parser refused is the client's mistake: say so, then hang up.
    respond(text_response(http::status::bad_request, "malformed request: " + ec.message()));
    return;
  }
  if (websocket::is_upgrade(parser_->get())) {
    upgrade();
    return;
  }
  respond(route_request(parser_->get(), loop_.metrics(), loop_.options().node_id));
}

void http_session::upgrade() {
  auto& req = parser_->get();
  auto route = parse_room_target(req.target());
  if (route.what == room_route::kind::not_a_room) {
    respond(text_response(http::status::not_found, "not found", req.version()));
    return;
  }
  if (route.what == room_route::kind::invalid_name) {
    refuse(refusal_reason::bad_room, "invalid room name");
    respond(text_response(http::status::bad_request, "invalid room name: use 1-64 characters of A-Z a-z 0-9 . _ -",
                          req.version()));
    return;
  }
  auto& gate = loop_.admission();
  if (!gate.origin_allowed(req[http::field::origin])) {
    refuse(refusal_reason::origin, "origin " + std::string(req[http::field::origin]));
    respond(text_response(http::status::forbidden, "origin not allowed", req.version()));
    return;
  }
  // Over the handshake rate the client still gets a WebSocket, closed at once
  // with 1013 (try again later), which clients know to back off from.
  bool admitted = gate.take_handshake();
  if (admitted && !gate.reserve()) {
    refuse(refusal_reason::max_connections, "connection limit reached");
    auto res = text_response(http::status::service_unavailable, "too many connections, try again later", req.version());
    res.set(http::field::retry_after, "1");
    respond(std::move(res));
    return;
  }
  if (!admitted)
    refuse(refusal_reason::handshake_rate, "handshake rate over --max-handshakes-per-second");
  // The timer of this stream must not fire on the socket the WebSocket now owns.
  stream_.expires_never();
  std::make_shared<websocket_session>(stream_.release_socket(), loop_, admitted)
      ->run(parser_->release(), std::move(route.room));
}

void http_session::refuse(refusal_reason reason, std::string_view why) {
  loop_.metrics().refused(reason).Increment();
  if (auto suppressed = loop_.admission().refusal_log.allow()) {
    beast::error_code ec;
    auto peer = stream_.socket().remote_endpoint(ec);
    spdlog::warn("refused {}: {}{}", ec ? std::string{"a client"} : peer.address().to_string(), why,
                 suppressed_note(*suppressed));
  }
}

void http_session::respond(http_response res) {
  loop_.metrics().http_responses(res.result_int()).Increment();
  bool keep_alive = res.keep_alive();
  response_ = std::make_shared<http_response>(std::move(res));
  http::async_write(stream_, *response_,
                    beast::bind_front_handler(&http_session::on_write, shared_from_this(), keep_alive));
}

void http_session::on_write(bool keep_alive, beast::error_code ec, std::size_t) {
  response_.reset();
  if (ec || !keep_alive) {
    beast::error_code ignored;
    stream_.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_send, ignored);
    stream_.close();
    return;
  }
  do_read();
}

} // namespace chatd::net
