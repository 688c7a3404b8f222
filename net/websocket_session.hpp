#pragma once

#include "net/admission.hpp"
#include "net/frame_writer.hpp"
#include "net/http_routes.hpp"
#include "net/identity.hpp"
#include "net/payload_buffer.hpp"
#include "net/room_history.hpp"
#include "net/session_stream.hpp"
#include "proto/chat_metrics.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include <array>
#include <memory>
#include <string>

namespace chatd::net {

class io_loop;
struct room_state;

// One WebSocket client in one room. Owns its socket and its outbound queue;
// lives on its loop's thread only, for as long as it has a pending handler.
// It is in its loop's room table from a successful handshake until it is
// destroyed. Beast reads and speaks the protocol; what goes out (Beast's own
// frames and the shared message frames) leaves through one frame_writer, in
// one gather write per loop pass.
class websocket_session : public std::enable_shared_from_this<websocket_session> {
public:
  // `admitted`: the session holds a connection slot of its loop's admission
  // and joins its room; otherwise it completes the handshake only to close
  // with 1013 (try again later).
  websocket_session(loop_socket&& socket, io_loop& loop, bool admitted = true);
  ~websocket_session();

  // Completes the upgrade this request asked for, into `room`, for `who`.
  // `history`: what a chatd.v1 client asked for with ?since= / ?history=.
  void run(http_request req, std::string room, identity who = {}, history_request history = {});

  // Queues a message for this client. Over the hard queue bound, or over
  // --max-queue-bytes for longer than the grace period, the client is closed
  // as a slow consumer; the caller never waits.
  void send(const frame_ptr& f);

  // Closes with 1001 (going away): the server is stopping.
  void shutdown();
  // Closes with 4003 (removed): the server API removed its user from the room.
  void remove();

  // Called by the loop: the end of a pass (write what is queued); peers
  // know of this node's members now (answer the handshake); the room's
  // backlog went down (read again); the idle and slow-consumer sweeps.
  void flush();
  void release();
  void resume_reading();
  void check_idle();
  void check_slow(std::chrono::steady_clock::time_point now);
  // The token's exp has passed: close with 4001, the client may reconnect with a new one.
  void token_expired();

  // History for a chatd.v1 client, once it has joined (io_loop::request_history):
  // `{"type":"resumed",...}` for a resume, then the answer's messages, then
  // everything that reached it meanwhile and was not in them. Until
  // end_replay everything for this client waits.
  void replay(const history_answer& answer, const history_request& request);
  void begin_replay() { replay_->waiting = true; }
  bool replaying() const { return replay_ && replay_->waiting; }
  void end_replay(const history_answer& answer);

  // The room's name, from the loop's table: empty until the session joined.
  const std::string& room() const;
  bool held() const { return held_; }
  std::uint64_t id() const { return id_; }
  const identity& who() const { return who_; }
  bool v1() const { return v1_; }

  // The loop's bookkeeping: the session's place in its room.
  room_state* room_entry = nullptr;
  std::uint64_t generation = 0; // of the room's presence this session waits for
  std::uint32_t slot = 0;
  bool presence_synced = false; // chatd.v1: its presence snapshot is queued, events may follow

private:
  friend void session_writer::queue_control(websocket_session&, std::string);
  friend bool session_writer::drain(websocket_session&);

  void on_accept(const std::string& room, boost::beast::error_code ec);
  void do_read();
  void on_frame_start(boost::beast::error_code ec, std::size_t);
  void on_read(boost::beast::error_code ec, std::size_t bytes);
  void end_reading(boost::beast::error_code ec);
  void handle_message();
  void queue(frame_ptr f);
  void schedule_flush();
  void write_now();
  void update_backlog();
  // Starts the close handshake with `code`; the socket is closed under it
  // if the peer has not finished the handshake within close_grace.
  void close(boost::beast::websocket::close_code code, std::string_view why, close_reason reason);
  void close_as_slow(std::string_view why);
  // chatd.v1: whether `f` (a message with an offset) continues what this
  // client has; false when it had it already, or when it follows a gap and
  // waits for the gap to be filled (a repair: see docs/DESIGN.md "Order
  // across nodes").
  bool in_sequence(const frame_ptr& f);

  boost::beast::websocket::stream<session_stream> ws_;
  io_loop& loop_;
  frame_writer out_;
  // The message being read, with room for its frame header in front; empty
  // (nothing allocated) between messages.
  std::string reading_;
  payload_buffer read_buffer_;
  std::unique_ptr<token_bucket> messages_;                 // only with --max-messages-per-second
  std::unique_ptr<boost::asio::steady_timer> close_timer_; // only while closing
  std::chrono::steady_clock::time_point over_since_;       // when the queue went over --max-queue-bytes
  close_reason reason_ = close_reason::client;
  bool admitted_;
  bool accepted_ = false; // the WebSocket handshake is done
  bool joined_ = false;
  bool closing_ = false;
  bool held_ = true; // nothing is written until the handshake answer may go
  bool flush_scheduled_ = false;
  bool write_waiting_ = false; // the socket was full: waiting until it is writable
  bool broken_ = false;        // a write failed
  bool close_queued_ = false;  // a close frame is queued: no message may follow it
  bool read_paused_ = false;   // the room's backlog is over the limit: not reading
  bool over_limit_ = false;    // the queue is over --max-queue-bytes
  bool pinged_ = false;        // the idle sweep sent a ping
  std::uint64_t id_;
  identity who_;
  // The client selected the chatd.v1 subprotocol: it speaks JSON envelopes.
  bool v1_ = false;
  // Only for a chatd.v1 client that asked for history (idle connections
  // stay as small as they were).
  // Also made, in a cluster, for a chatd.v1 client's first message with an offset: where
  // it is in the room's sequence.
  struct replay_state {
    history_request request;
    bool waiting = false;   // for the answer: what is sent meanwhile waits in `wait`
    bool repairing = false; // the request fills a gap in place (not asked for by the client)
    bool answering = false; // the answer's messages are being queued: no gap check
    std::vector<frame_ptr> wait;
    std::size_t wait_bytes = 0;
    // Offsets up to `to` of this epoch came in the replay: not again.
    std::shared_ptr<const std::string> epoch;
    std::uint64_t to = 0;
    // The last message the client got of each of the room's latest epochs,
    // the current one first (late messages of an old ordering node trail
    // the new one's; a cut-off node's own epoch comes between the room's),
    // and the message after the gap a repair is filling.
    struct place {
      std::shared_ptr<const std::string> epoch;
      std::uint64_t offset = 0;
    };
    std::array<place, 3> places;
    place gap;
    place* find(const std::shared_ptr<const std::string>& epoch);
    // Moves p to the front.
    void make_current(place* p);
    // A new current epoch; the oldest is forgotten.
    place& add(const std::shared_ptr<const std::string>& epoch, std::uint64_t offset);
    // Whether the client has, or gets from `answer`, every message of the
    // answer's epoch up to its offset.
    bool has_all_of(const history_answer& answer);
  };
  std::unique_ptr<replay_state> replay_;
  // permessage-deflate: the window this client agreed to (8..15), or 0 when
  // it gets uncompressed frames only.
  std::uint8_t deflate_window_ = 0;
};

} // namespace chatd::net
