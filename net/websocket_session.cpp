#include "net/websocket_session.hpp"

#include "net/io_loop.hpp"
#include "net/utf8.hpp"

#include <spdlog/spdlog.h>

namespace chatd::net {

namespace beast = boost::beast;
namespace websocket = beast::websocket;

namespace {
constexpr std::size_t large_read_buffer = 16 * 1024;
} // namespace

websocket_session::websocket_session(boost::asio::ip::tcp::socket&& socket, io_loop& loop, std::string room,
                                     bool admitted)
  : ws_(std::move(socket))
  , loop_(loop)
  , room_(std::move(room))
  , queue_(loop.options().max_queue_bytes)
  , messages_(loop.options().max_messages_per_second, loop.options().max_messages_per_second)
  , close_timer_(ws_.get_executor())
  , admitted_(admitted) {}

websocket_session::~websocket_session() {
  if (admitted_)
    loop_.admission().release();
  if (!joined_)
    return;
  loop_.leave(*this);
  loop_.metrics().closed(reason_).Increment();
}

void websocket_session::run(http_request req) {
  auto& opts = loop_.options();
  // The WebSocket stream keeps its own timers from here on.
  beast::get_lowest_layer(ws_).expires_never();
  websocket::stream_base::timeout timeouts{};
  timeouts.handshake_timeout = opts.handshake_timeout;
  timeouts.idle_timeout = opts.idle_timeout;
  timeouts.keep_alive_pings = true; // ping at half the idle timeout, close at the full one
  ws_.set_option(timeouts);
  ws_.set_option(websocket::stream_base::decorator(
      [](websocket::response_type& res) { res.set(beast::http::field::server, "chatd"); }));
  ws_.read_message_max(opts.max_message_bytes);
  // One frame per message, written with one gather write of header + shared payload.
  ws_.auto_fragment(false);
  ws_.async_accept(req, beast::bind_front_handler(&websocket_session::on_accept, shared_from_this()));
}

void websocket_session::on_accept(beast::error_code ec) {
  if (ec) {
    loop_.metrics().refused(refusal_reason::handshake_failed).Increment();
    spdlog::debug("websocket handshake failed: {}", ec.message());
    return;
  }
  accepted_ = true;
  if (!admitted_) {
    // Counted as refused (handshake_rate) already; it never joined, so it is no close.
    close(websocket::close_code::try_again_later, "try again later", reason_);
    return;
  }
  joined_ = true;
  loop_.metrics().connections_accepted.Increment();
  loop_.join(*this);
  do_read();
}

void websocket_session::do_read() {
  ws_.async_read(buffer_, beast::bind_front_handler(&websocket_session::on_read, shared_from_this()));
}

void websocket_session::on_read(beast::error_code ec, std::size_t) {
  if (ec) {
    close_timer_.cancel(); // the session is over: do not keep it alive for the grace period
    if (closing_)
      return; // the reason was set when the close started
    if (ec == websocket::error::message_too_big)
      reason_ = close_reason::too_big; // Beast has sent 1009
    else if (ec == beast::error::timeout)
      reason_ = close_reason::idle_timeout;
    else if (ec == websocket::error::closed || ec == boost::asio::error::eof ||
             ec == boost::asio::error::connection_reset || ec == boost::asio::error::operation_aborted)
      reason_ = close_reason::client;
    else
      reason_ = close_reason::protocol_error; // Beast has sent 1002 where the frame was bad
    return;
  }
  if (closing_) {
    // A message that crossed our close frame: the client is leaving. The
    // pending async_close reads the rest (see close()).
    buffer_.consume(buffer_.size());
    return;
  }
  const auto now = std::chrono::steady_clock::now();
  if (!messages_.take(now)) {
    buffer_.consume(buffer_.size());
    if (auto suppressed = loop_.admission().close_log.allow())
      spdlog::warn("closing a client in room {}: over --max-messages-per-second ({}){}", room_,
                   loop_.options().max_messages_per_second, suppressed_note(*suppressed));
    close(websocket::close_code::policy_error, "message rate limit", close_reason::rate_limit);
    return;
  }
  if (!ws_.got_binary() && !valid_utf8({static_cast<const char*>(buffer_.data().data()), buffer_.size()})) {
    buffer_.consume(buffer_.size());
    if (auto suppressed = loop_.admission().close_log.allow())
      spdlog::info("closing a client in room {}: text message is not valid UTF-8{}", room_,
                   suppressed_note(*suppressed));
    close(websocket::close_code::bad_payload, "invalid UTF-8", close_reason::protocol_error);
    return;
  }
  auto f = std::make_shared<frame>();
  f->room = room_;
  f->binary = ws_.got_binary();
  f->bytes = beast::buffers_to_string(buffer_.data());
  f->received_at = now;
  buffer_.consume(buffer_.size());
  // A flat_buffer keeps the capacity of the largest message it held: give
  // a large one back, or every client that once sent 64 KiB keeps 64 KiB
  // (seen in tests/soak).
  if (buffer_.capacity() > large_read_buffer)
    buffer_.shrink_to_fit();
  loop_.metrics().messages_received.Increment();
  loop_.publish(std::move(f));
  do_read();
}

void websocket_session::send(const frame_ptr& f) {
  if (closing_) {
    loop_.metrics().dropped(drop_reason::closing).Increment();
    return;
  }
  if (!queue_.push(f)) {
    loop_.metrics().slow_consumer_closes.Increment();
    if (auto suppressed = loop_.admission().close_log.allow())
      spdlog::info("closing slow consumer in room {}: {} bytes queued, bound {}{}", room_, queue_.bytes(),
                   queue_.max_bytes(), suppressed_note(*suppressed));
    // This message is dropped with the client, and so are the waiting ones (in close()).
    loop_.metrics().dropped(drop_reason::slow_consumer).Increment();
    close(websocket::close_code::policy_error, "slow consumer", close_reason::slow_consumer);
    return;
  }
  if (!queue_.writing())
    do_write();
}

void websocket_session::do_write() {
  const frame& f = queue_.start_write();
  ws_.binary(f.binary);
  ws_.async_write(boost::asio::buffer(f.bytes),
                  beast::bind_front_handler(&websocket_session::on_write, shared_from_this()));
}

void websocket_session::on_write(beast::error_code ec, std::size_t) {
  queue_.finish_write();
  if (ec)
    return; // the pending read ends the session
  loop_.metrics().messages_delivered.Increment();
  if (queue_.has_waiting() && !closing_)
    do_write();
}

void websocket_session::shutdown() {
  close(websocket::close_code::going_away, "server shutting down", close_reason::shutdown);
}

void websocket_session::close(websocket::close_code code, std::string_view why, close_reason reason) {
  if (closing_)
    return;
  closing_ = true;
  reason_ = reason;
  if (auto dropped = queue_.drop_waiting())
    loop_.metrics()
        .dropped(reason == close_reason::slow_consumer ? drop_reason::slow_consumer : drop_reason::closing)
        .Increment(static_cast<double>(dropped));
  // Before the handshake there is no WebSocket to close politely.
  if (!accepted_) {
    beast::get_lowest_layer(ws_).close();
    return;
  }
  // async_close reads (and drops) what the client still sends until its close
  // answer comes; when no read of ours is pending it is the only reader, and
  // none must be started after it (a read queued behind it was seen never to
  // complete, keeping the session alive for good: found by tests/fuzz).
  ws_.async_close(websocket::close_reason{code, why},
                  [self = shared_from_this()](beast::error_code) { self->close_timer_.cancel(); });
  close_timer_.expires_after(loop_.options().close_grace);
  close_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
    if (!ec)
      beast::get_lowest_layer(self->ws_).close();
  });
}

} // namespace chatd::net
