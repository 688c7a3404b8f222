#include "net/http_session.hpp"

#include "net/admission.hpp"
#include "net/api.hpp"
#include "net/auth.hpp"
#include "net/io_loop.hpp"
#include "net/v1_protocol.hpp"
#include "net/websocket_session.hpp"
#include "proto/room_name.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

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
  // Beast checks a Content-Length against the limit as the header ends: the
  // limit of this request is set once its header says what it is.
  parser_->body_limit(std::max<std::uint64_t>(body_limit, loop_.options().max_message_bytes + 1));
  stream_.expires_after(loop_.options().http_timeout);
  http::async_read_header(stream_, buffer_, *parser_,
                          beast::bind_front_handler(&http_session::on_header, shared_from_this()));
}

void http_session::on_header(beast::error_code ec, std::size_t bytes) {
  if (ec)
    return on_read(ec, bytes);
  // An API POST carries a message: up to --max-message-bytes, and one byte
  // more so that the API answers a longer one with its own 413.
  std::uint64_t limit = api_body_limit(parser_->get(), loop_.options().max_message_bytes);
  if (limit == 0)
    limit = body_limit;
  if (auto length = parser_->content_length(); length && *length > limit)
    return on_read(http::error::body_limit, bytes);
  parser_->body_limit(limit);
  // curl and others wait (a second) for this before they send a body. Not
  // to an HTTP/1.0 client: it gets no 1xx, and its expectation is ignored
  // (RFC 9110 10.1.1, 15.2).
  if (parser_->get().version() >= 11 && beast::iequals(parser_->get()[http::field::expect], "100-continue")) {
    auto go_on = std::make_shared<http::response<http::empty_body>>(http::status::continue_, parser_->get().version());
    http::async_write(stream_, *go_on, [self = shared_from_this(), go_on](beast::error_code ec, std::size_t) {
      if (ec)
        return self->stream_.close();
      self->read_body();
    });
    return;
  }
  read_body();
}

void http_session::read_body() {
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
  if (is_api_target(parser_->get().target())) {
    respond(handle_api_request(parser_->get(), loop_));
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
  // Only a chatd.v1 client has offsets to resume from: a raw client's query
  // is none of chatd's business, as before.
  auto history = offers_subprotocol(req[http::field::sec_websocket_protocol], v1_subprotocol)
                     ? parse_history_request(req.target())
                     : std::optional<history_request>{history_request{}};
  if (!history) {
    refuse(refusal_reason::bad_query, "bad ?since= or ?history=");
    respond(text_response(http::status::bad_request,
                          "bad query: since is <epoch>:<offset>, history is a number of messages", req.version()));
    return;
  }
  auto& gate = loop_.admission();
  if (!gate.origin_allowed(req[http::field::origin])) {
    refuse(refusal_reason::origin, "origin " + std::string(req[http::field::origin]));
    respond(text_response(http::status::forbidden, "origin not allowed", req.version()));
    return;
  }
  // Before admission, so that a refused token holds no slot.
  auto who = authenticate(route.room);
  if (!who)
    return;
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
      ->run(parser_->release(), std::move(route.room), std::move(*who), std::move(*history));
}

std::optional<identity> http_session::authenticate(const std::string& room) {
  const auto& verifier = loop_.options().auth;
  if (!verifier)
    return identity{};
  auto& req = parser_->get();
  auto token = auth::find_token(req.target(), req[http::field::authorization]);
  auto checked = token.empty() ? auth::verification{std::nullopt, "no token"} : verifier->verify(token);
  if (!checked) {
    // RFC 6750 3: the scheme always, the error code when a token was given.
    refuse(refusal_reason::unauthorized, checked.problem);
    auto res =
        text_response(http::status::unauthorized, token.empty() ? "token required" : "invalid token", req.version());
    res.set(http::field::www_authenticate, token.empty() ? "Bearer" : "Bearer error=\"invalid_token\"");
    respond(std::move(res));
    return std::nullopt;
  }
  if (!checked.claims->allows(room)) {
    refuse(refusal_reason::forbidden_room, "user " + checked.claims->who.user + " may not join room " + room);
    respond(text_response(http::status::forbidden, "the token does not allow this room", req.version()));
    return std::nullopt;
  }
  return std::move(checked.claims->who);
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
