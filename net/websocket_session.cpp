#include "net/websocket_session.hpp"

#include "net/deflate.hpp"
#include "net/io_loop.hpp"
#include "net/utf8.hpp"
#include "net/v1_protocol.hpp"

#include <algorithm>
#include <netinet/tcp.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

namespace chatd::net {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
using clock = std::chrono::steady_clock;

namespace {
// An application close code (RFC 6455 7.4.2): Beast's enum holds any uint16.
constexpr auto token_expired_code = static_cast<websocket::close_code>(4001);
} // namespace

void session_writer::queue_control(websocket_session& session, std::string bytes) {
  // Beast closes on its own too (a bad frame from the client: 1002, 1007,
  // 1009): nothing may follow its close frame (found by tests/fuzz).
  if (!bytes.empty() && static_cast<unsigned char>(bytes[0]) == 0x88)
    session.close_queued_ = true;
  auto f = std::make_shared<frame>();
  f->wire = std::move(bytes);
  f->control = true;
  session.queue(std::move(f));
}

bool session_writer::drain(websocket_session& session) {
  if (session.broken_ || session.out_.empty())
    return true;
  // Beast is closing (a bad frame from a client still held for its peers):
  // the answer, then the close, may go now; waiting would spin on a socket
  // that is writable all along.
  if (session.held_)
    session.held_ = false;
  session.write_now();
  return session.broken_ || session.out_.empty();
}

void teardown(beast::role_type role, session_stream& stream, beast::error_code& ec) {
  // Only reached by Beast's synchronous calls, which chatd does not make.
  websocket::teardown(role, stream.socket(), ec);
}

websocket_session::websocket_session(loop_socket&& socket, io_loop& loop, bool admitted)
  : ws_(std::move(socket))
  , loop_(loop)
  // Room for a compressed frame a little longer than the message it
  // inflates to (deflate's stored blocks); what inflates past
  // --max-message-bytes is Beast's 1009.
  , read_buffer_(reading_, loop.options().max_message_bytes + loop.options().max_message_bytes / 16 + 1024)
  , admitted_(admitted)
  , id_(loop.next_session_id()) {
  ws_.next_layer().attach(*this);
  if (auto rate = loop.options().max_messages_per_second; rate > 0)
    messages_ = std::make_unique<token_bucket>(rate, rate);
}

const std::string& websocket_session::room() const {
  static const std::string none;
  return room_entry ? *room_entry->name : none;
}

websocket_session::~websocket_session() {
  if (admitted_)
    loop_.admission().release();
  if (auto dropped = out_.drop_all(); dropped && joined_)
    loop_.metrics().dropped(drop_reason::closing).Increment(static_cast<double>(dropped));
  if (!joined_)
    return;
  if (who_.expires)
    loop_.forget_expiry(*this, *who_.expires);
  if (over_limit_)
    loop_.backlog_under(*this);
  loop_.leave(*this);
  loop_.metrics().closed(reason_).Increment();
}

void websocket_session::run(http_request req, std::string room, identity who, history_request history) {
  who_ = std::move(who);
  auto& opts = loop_.options();
  beast::error_code ec;
  ws_.next_layer().socket().non_blocking(true, ec);
  // The loop keeps the deadlines (idle sweep, close grace): no timer per stream.
  ws_.set_option(
      websocket::stream_base::timeout{websocket::stream_base::none(), websocket::stream_base::none(), false});
  v1_ = offers_subprotocol(req[beast::http::field::sec_websocket_protocol], v1_subprotocol);
  if (v1_ && history.wanted()) { // raw clients get neither history nor resume
    replay_ = std::make_unique<replay_state>();
    replay_->request = std::move(history);
  }
  int offered_window = 0;
  if (opts.compression) {
    // Beast negotiates and inflates; chatd compresses (see net/deflate.hpp).
    websocket::permessage_deflate pmd;
    pmd.server_enable = true;
    pmd.server_no_context_takeover = true; // one compressed form per message, for every receiver
    pmd.client_max_window_bits = opts.compression_window_bits;
    ws_.set_option(pmd);
    offered_window = offered_server_window_bits(req[beast::http::field::sec_websocket_extensions]);
  }
  // Called while Beast builds the answer, after it has negotiated: what it
  // agreed to is read (and a window of 8 put right) here.
  ws_.set_option(websocket::stream_base::decorator([this, offered_window](websocket::response_type& res) {
    res.set(beast::http::field::server, "chatd");
    if (v1_)
      res.set(beast::http::field::sec_websocket_protocol, v1_subprotocol);
    auto agreed = res[beast::http::field::sec_websocket_extensions];
    if (agreed.empty())
      return;
    auto fixed = honour_offered_window(agreed, offered_window);
    deflate_window_ = static_cast<std::uint8_t>(agreed_server_window_bits(fixed));
    if (fixed != agreed)
      res.set(beast::http::field::sec_websocket_extensions, fixed);
  }));
  ws_.read_message_max(opts.max_message_bytes);
  // Beast queues the answer here, synchronously; it stays held until on_accept.
  ws_.async_accept(req, beast::bind_front_handler(&websocket_session::on_accept, shared_from_this(), std::move(room)));
}

void websocket_session::on_accept(const std::string& room, beast::error_code ec) {
  if (ec) {
    loop_.metrics().refused(refusal_reason::handshake_failed).Increment();
    spdlog::debug("websocket handshake failed: {}", ec.message());
    release(); // Beast's refusal goes out; the read below is never started
    return;
  }
  accepted_ = true;
  if (!admitted_) {
    // Counted as refused (handshake_rate) already; it never joined, so it is no close.
    release();
    close(websocket::close_code::try_again_later, "try again later", reason_);
    return;
  }
  joined_ = true;
  loop_.metrics().connections_accepted.Increment();
  if (who_.expires)
    loop_.expire_at(*this, *who_.expires);
  // The route is in place before the client can see the answer; in a
  // cluster the loop may hold the answer until peers know of the room.
  if (!loop_.join(*this, room))
    release();
  do_read();
}

void websocket_session::release() {
  if (!held_)
    return;
  held_ = false;
  // Joined and routed, and peers know: what the history answer leaves out
  // reaches this session live.
  if (joined_ && !closing_ && replay_ && replay_->request.wanted())
    loop_.request_history(*this, replay_->request);
  schedule_flush();
}

namespace {
bool same_epoch(const std::shared_ptr<const std::string>& a, const std::shared_ptr<const std::string>& b) {
  return a == b || (a && b && *a == *b);
}
} // namespace

void websocket_session::replay(const history_answer& answer, const history_request& request) {
  auto& r = *replay_;
  r.waiting = false;
  // A repair of a gap in an epoch that is not the room's (a cut-off node's,
  // whose last messages reach this node for a moment as it links back) is
  // answered from the room's epoch: when the client has all of that, it
  // missed nothing of the room's sequence, and is told nothing.
  const bool nothing_missed = r.repairing && !answer.recovered && answer.epoch &&
                              !same_epoch(answer.epoch, r.gap.epoch) && r.has_all_of(answer);
  if (request.resume && !nothing_missed) {
    if (r.repairing)
      loop_.metrics().repairs(answer.recovered).Increment();
    else
      loop_.metrics().resumes(answer.recovered).Increment();
    static const std::string no_epoch;
    send(make_v1_frame(room(),
                       encode_v1_resumed(answer.recovered, answer.epoch ? *answer.epoch : no_epoch, answer.offset),
                       clock::now()));
  }
  r.answering = true;
  for (auto& f : answer.frames)
    send(f);
  r.answering = false;
  // The client is at the answer's end now, even when it held nothing to send.
  if (answer.epoch) {
    if (auto* at = r.find(answer.epoch)) {
      at->offset = std::max(at->offset, answer.offset);
      r.make_current(at);
    } else {
      r.add(answer.epoch, answer.offset);
    }
  }
  if (r.repairing) {
    // The gap is as filled as it can be: what follows it is taken as it comes.
    r.repairing = false;
    if (auto* at = r.find(r.gap.epoch); at && at->offset + 1 < r.gap.offset)
      at->offset = r.gap.offset - 1;
    r.gap = {};
  }
  r.epoch = answer.epoch;
  r.to = answer.offset;
  r.request = {}; // `request` may be this: not used below
  auto waiting = std::move(r.wait);
  r.wait.clear();
  r.wait_bytes = 0;
  for (auto& f : waiting)
    send(f);
}

void websocket_session::end_replay(const history_answer& answer) {
  auto request = replay_->request;
  replay(answer, request);
}

auto websocket_session::replay_state::find(const std::shared_ptr<const std::string>& epoch) -> place* {
  for (auto& p : places)
    if (p.epoch && same_epoch(p.epoch, epoch))
      return &p;
  return nullptr;
}

bool websocket_session::replay_state::has_all_of(const history_answer& answer) {
  const auto* at = find(answer.epoch);
  if (!at)
    return false;
  auto first = answer.offset + 1; // the first offset of that epoch the answer brings
  for (auto& f : answer.frames)
    if (same_epoch(f->epoch, answer.epoch)) {
      first = f->offset;
      break;
    }
  return at->offset + 1 >= first;
}

void websocket_session::replay_state::make_current(place* p) { std::rotate(places.data(), p, p + 1); }

auto websocket_session::replay_state::add(const std::shared_ptr<const std::string>& epoch, std::uint64_t offset)
    -> place& {
  std::rotate(places.begin(), places.end() - 1, places.end());
  places[0] = {epoch, offset};
  return places[0];
}

// Where the client is in the room's sequence. A node gets a room's
// messages from its ordering node over a link that may drop (a paused or
// cut-off node, a link that timed out): then a live message follows a gap,
// and the session asks the ordering node for what it missed, since the last
// offset it got, as a resume would, and waits (a repair: the client gets
// `resumed`, the missing messages, then the rest). A message of a new epoch
// that is not its first is filled in from the epoch's start the same way.
// Late messages of an epoch before go through as they come; one after a
// gap in it is repaired as in the current one.
bool websocket_session::in_sequence(const frame_ptr& f) {
  if (!replay_)
    replay_ = std::make_unique<replay_state>();
  auto& r = *replay_;
  if (!r.places[0].epoch) { // its first: it joined mid-epoch, say
    r.places[0] = {f->epoch, f->offset};
    return true;
  }
  if (auto* at = r.find(f->epoch)) {
    if (f->offset <= at->offset)
      return false; // it has this one
    if (f->offset == at->offset + 1 || r.answering || !loop_.may_repair(room())) {
      at->offset = f->offset;
      return true;
    }
    // After a gap. In an epoch before the current one, the room has come
    // back to its ordering node after another ordered it for a while (this
    // node, when it was cut off): that epoch is the current one again.
    r.make_current(at);
  } else {
    auto& now = r.add(f->epoch, f->offset);
    if (f->offset == 1 || r.answering || !loop_.may_repair(room()))
      return true;
    now.offset = 0;
  }
  const auto& since = r.places[0];
  r.gap = {f->epoch, f->offset};
  r.repairing = true;
  r.request = {};
  r.request.resume = true;
  r.request.epoch = *since.epoch;
  r.request.offset = since.offset;
  r.waiting = true;
  r.wait.push_back(f);
  r.wait_bytes = f->bytes().size();
  loop_.request_repair(*this, r.request);
  return false;
}

// Waits for the next message without holding a buffer: Beast reads the
// frame header into its own small buffer and returns before the payload.
void websocket_session::do_read() {
  // Not a null pointer: Beast 1.74's UTF-8 check of a text frame's first
  // bytes walks off a null buffer of size 0 (its end is computed as p - 3).
  static char nothing;
  ws_.async_read_some(boost::asio::mutable_buffer{&nothing, 0},
                      beast::bind_front_handler(&websocket_session::on_frame_start, shared_from_this()));
}

void websocket_session::on_frame_start(beast::error_code ec, std::size_t) {
  if (ec)
    return end_reading(ec);
  read_buffer_.reset();
  if (ws_.is_message_done())
    return handle_message(); // an empty message
  ws_.async_read(read_buffer_, beast::bind_front_handler(&websocket_session::on_read, shared_from_this()));
}

void websocket_session::on_read(beast::error_code ec, std::size_t) {
  if (ec)
    return end_reading(ec);
  handle_message();
}

void websocket_session::end_reading(beast::error_code ec) {
  reading_ = std::string{};
  if (close_timer_)
    close_timer_->cancel(); // the session is over: do not keep it alive for the grace period
  if (closing_)
    return; // the reason was set when the close started
  if (ec == websocket::error::message_too_big)
    reason_ = close_reason::too_big; // Beast has sent 1009
  else if (ec == websocket::error::closed || ec == boost::asio::error::eof ||
           ec == boost::asio::error::connection_reset || ec == boost::asio::error::operation_aborted ||
           ec == boost::asio::error::broken_pipe)
    reason_ = close_reason::client;
  else
    reason_ = close_reason::protocol_error; // Beast has sent 1002 where the frame was bad
}

void websocket_session::handle_message() {
  const bool binary = ws_.got_binary();
  if (closing_) {
    // A message that crossed our close frame: the client is leaving. The
    // pending async_close reads the rest (see close()).
    reading_ = std::string{};
    return;
  }
  const auto now = clock::now();
  if (messages_ && !messages_->take(now)) {
    reading_ = std::string{};
    if (auto suppressed = loop_.admission().close_log.allow())
      spdlog::warn("closing a client in room {}: over --max-messages-per-second ({}){}", room(),
                   loop_.options().max_messages_per_second, suppressed_note(*suppressed));
    close(websocket::close_code::policy_error, "message rate limit", close_reason::rate_limit);
    return;
  }
  auto f = std::make_shared<frame>();
  f->wire = std::move(reading_);
  reading_ = std::string{};
  if (!binary && !valid_utf8(f->payload())) {
    if (auto suppressed = loop_.admission().close_log.allow())
      spdlog::info("closing a client in room {}: text message is not valid UTF-8{}", room(),
                   suppressed_note(*suppressed));
    close(websocket::close_code::bad_payload, "invalid UTF-8", close_reason::protocol_error);
    return;
  }
  f->kind = binary ? message_kind::binary : message_kind::text;
  if (v1_) {
    // A v1 client publishes JSON; what raw clients get is the compact text
    // of its data. Anything else is answered, and the client may go on.
    auto message =
        binary ? v1_publish{{}, "not_json", "chatd.v1 messages are JSON text frames"} : parse_v1_message(f->payload());
    if (!message.ok()) {
      send(make_v1_frame(room(), encode_v1_error(message.code, message.message), now));
      if (!closing_)
        do_read();
      return;
    }
    f->wire.replace(frame_header_room, std::string::npos, message.data);
    f->kind = message_kind::json;
  }
  f->room = room();
  f->binary = f->kind == message_kind::binary;
  f->received_at = now;
  f->user = who_.user;
  f->name = who_.name;
  f->ts_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
                 .count();
  seal(*f);
  loop_.metrics().messages_received.Increment();
  loop_.publish(std::move(f));
  if (closing_)
    return; // publishing to its own room may have closed this client as slow
  // While the room's backlog is over the limit its publishers wait: TCP
  // slows them down instead of the queues growing.
  if (loop_.room_backlogged(*this)) {
    read_paused_ = true;
    loop_.reading_paused(*this);
    return;
  }
  do_read();
}

void websocket_session::resume_reading() {
  if (!read_paused_)
    return;
  read_paused_ = false;
  if (!closing_)
    do_read();
}

void websocket_session::send(const frame_ptr& f) {
  if (f->v1_only && !v1_)
    return; // an event of the JSON protocol: not for raw clients, and no drop
  if (closing_ || broken_ || close_queued_) {
    loop_.metrics().dropped(drop_reason::closing).Increment();
    return;
  }
  auto& opts = loop_.options();
  if (replay_) {
    auto& r = *replay_;
    if (r.waiting) {
      // Behind the replay, which is on its way.
      r.wait_bytes += f->bytes().size();
      r.wait.push_back(f);
      if (r.wait_bytes > opts.hard_queue_bytes) {
        loop_.metrics().dropped(drop_reason::slow_consumer).Increment(static_cast<double>(r.wait.size()));
        r.wait.clear();
        close_as_slow("over the hard queue bound while its history was on its way");
      }
      return;
    }
    // Came in the replay already (it overlaps what was on its way meanwhile).
    if (f->offset != 0 && f->offset <= r.to && r.epoch && same_epoch(f->epoch, r.epoch))
      return;
  }
  if (v1_ && f->offset != 0 && f->epoch && loop_.tracks_places() && !in_sequence(f))
    return;
  // A v1 client gets the message's envelope, made once for all of them.
  const frame_ptr* out = v1_ && !f->v1_only ? &v1_form(*f) : &f;
  if (deflate_window_ != 0) {
    auto size = (*out)->payload().size();
    if (size >= opts.compression_min_bytes && fits_window(size, deflate_window_))
      if (auto& deflated = compressed_form(**out, &loop_.metrics().messages_compressed))
        out = &deflated;
  }
  if (out_.bytes() + (*out)->bytes().size() > opts.hard_queue_bytes) {
    loop_.metrics().dropped(drop_reason::slow_consumer).Increment();
    close_as_slow("over the hard queue bound");
    return;
  }
  queue(*out);
  if (!over_limit_ && out_.bytes() > opts.max_queue_bytes) {
    over_limit_ = true;
    over_since_ = clock::now();
    loop_.backlog_over(*this);
  }
}

void websocket_session::queue(frame_ptr f) {
  out_.push(std::move(f));
  schedule_flush();
}

void websocket_session::schedule_flush() {
  if (flush_scheduled_ || write_waiting_ || held_ || broken_)
    return;
  flush_scheduled_ = true;
  loop_.schedule_flush(shared_from_this());
}

void websocket_session::flush() {
  flush_scheduled_ = false;
  if (!write_waiting_ && !held_)
    write_now();
}

void websocket_session::write_now() {
  auto& socket = ws_.next_layer().socket();
  auto r = out_.flush(socket.native_handle());
  if (r.messages)
    loop_.metrics().messages_delivered.Increment(static_cast<double>(r.messages));
  if (r.error) {
    // The peer is gone; the pending read ends the session.
    broken_ = true;
    if (auto dropped = out_.drop_all(); dropped && joined_)
      loop_.metrics().dropped(drop_reason::closing).Increment(static_cast<double>(dropped));
    beast::error_code ignored;
    socket.shutdown(boost::asio::socket_base::shutdown_both, ignored);
  } else if (r.blocked && !write_waiting_) {
    write_waiting_ = true;
    socket.async_wait(boost::asio::socket_base::wait_write, [self = shared_from_this()](beast::error_code ec) {
      self->write_waiting_ = false;
      if (!ec)
        self->write_now();
    });
  }
  update_backlog();
}

void websocket_session::update_backlog() {
  if (over_limit_ && out_.bytes() <= loop_.options().max_queue_bytes) {
    over_limit_ = false;
    loop_.backlog_under(*this);
  }
}

void websocket_session::check_slow(clock::time_point now) {
  if (over_limit_ && !closing_ && now - over_since_ > loop_.options().slow_consumer_grace)
    close_as_slow("over --max-queue-bytes for longer than --slow-consumer-grace");
}

void websocket_session::close_as_slow(std::string_view why) {
  loop_.metrics().slow_consumer_closes.Increment();
  if (auto suppressed = loop_.admission().close_log.allow())
    spdlog::info("closing slow consumer in room {}: {} bytes queued, {}{}", room(), out_.bytes(), why,
                 suppressed_note(*suppressed));
  close(websocket::close_code::policy_error, "slow consumer", close_reason::slow_consumer);
}

void websocket_session::check_idle() {
  if (!accepted_ || closing_ || read_paused_)
    return;
  if (out_.empty())
    out_.release_memory();
  tcp_info info{};
  socklen_t len = sizeof info;
  if (::getsockopt(ws_.next_layer().socket().native_handle(), IPPROTO_TCP, TCP_INFO, &info, &len) != 0)
    return;
  auto silent = std::chrono::milliseconds{info.tcpi_last_data_recv};
  auto timeout = loop_.options().idle_timeout;
  if (silent >= timeout) {
    // Like Beast's own idle timeout: the socket is closed, no close frame.
    closing_ = true;
    reason_ = close_reason::idle_timeout;
    if (auto dropped = out_.drop_all())
      loop_.metrics().dropped(drop_reason::closing).Increment(static_cast<double>(dropped));
    beast::error_code ignored;
    ws_.next_layer().socket().close(ignored);
  } else if (silent >= timeout / 2) {
    if (!pinged_) {
      pinged_ = true;
      ws_.async_ping({}, [self = shared_from_this()](beast::error_code) {});
    }
  } else {
    pinged_ = false;
  }
}

void websocket_session::token_expired() {
  if (closing_)
    return;
  if (auto suppressed = loop_.admission().close_log.allow())
    spdlog::info("closing user {} in room {}: token expired{}", who_.user, room(), suppressed_note(*suppressed));
  close(token_expired_code, "token expired", close_reason::token_expired);
}

void websocket_session::shutdown() {
  close(websocket::close_code::going_away, "server shutting down", close_reason::shutdown);
}

void websocket_session::remove() { close(static_cast<websocket::close_code>(4003), "removed", close_reason::removed); }

void websocket_session::close(websocket::close_code code, std::string_view why, close_reason reason) {
  if (closing_)
    return;
  auto self = shared_from_this(); // a paused session may be held only by its loop's list
  closing_ = true;
  reason_ = reason;
  if (auto dropped = out_.drop_unstarted())
    loop_.metrics()
        .dropped(reason == close_reason::slow_consumer ? drop_reason::slow_consumer : drop_reason::closing)
        .Increment(static_cast<double>(dropped));
  if (over_limit_) {
    over_limit_ = false;
    loop_.backlog_under(*this);
  }
  if (read_paused_) {
    read_paused_ = false;
    loop_.unpause(*this); // async_close below does the reading, and keeps the session
  }
  // Before the handshake there is no WebSocket to close politely.
  if (!accepted_) {
    beast::error_code ignored;
    ws_.next_layer().socket().close(ignored);
    return;
  }
  release();
  // async_close reads (and drops) what the client still sends until its close
  // answer comes; when no read of ours is pending it is the only reader, and
  // none must be started after it (a read queued behind it was seen never to
  // complete, keeping the session alive for good: found by tests/fuzz).
  ws_.async_close(websocket::close_reason{code, why}, [self = shared_from_this()](beast::error_code) {
    if (self->close_timer_)
      self->close_timer_->cancel();
  });
  close_timer_ = std::make_unique<boost::asio::steady_timer>(ws_.get_executor());
  close_timer_->expires_after(loop_.options().close_grace);
  close_timer_->async_wait([self = shared_from_this()](beast::error_code ec) {
    if (!ec) {
      beast::error_code ignored;
      self->ws_.next_layer().socket().close(ignored);
    }
  });
}

} // namespace chatd::net
