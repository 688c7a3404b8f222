#pragma once

#include "net/loop_events.hpp"
#include "net/presence_table.hpp"
#include "net/room_directory.hpp"
#include "net/room_history.hpp"
#include "net/server_options.hpp"
#include "proto/chat_metrics.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/system_timer.hpp>

#include <memory>
#include <optional>
#include <set>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace chatd::net {

class admission;
class http_session;
class websocket_session;

// A room as one loop sees it: its members here, and where else it has members.
struct room_state {
  const std::string* name = nullptr;
  std::vector<websocket_session*> members;
  std::shared_ptr<room_presence> presence;
  std::size_t over_limit = 0; // members whose queue is over --max-queue-bytes
  // Members not read from until the backlog is down; held here, since a
  // session that is not reading has no handler to keep it alive.
  std::vector<std::shared_ptr<websocket_session>> paused;
};

// One event loop: an io_context on its own thread with its own SO_REUSEPORT
// acceptor. It owns every session it accepted and its table of who is in
// which room; all of that is touched on this loop's thread only.
//
// A pass of the loop ends with one handler, posted by the first thing that
// needs it: it writes every session that was given something during the
// pass (one gather write each) and hands what the pass published to the
// broadcaster as one batch.
class io_loop {
public:
  // `epoch_prefix`: unique to this process (see history_store).
  io_loop(std::size_t index, const server_options& options, chat_metrics& metrics, class admission& admission,
          room_directory& directory, const std::string& epoch_prefix = "chatd");
  ~io_loop();
  io_loop(const io_loop&) = delete;
  io_loop& operator=(const io_loop&) = delete;

  // Set before start(); called on this loop's thread.
  void set_events(loop_events* events) { events_ = events; }
  void set_presence(const presence_table& table) { presence_ = &table; }
  // Opens this loop's acceptor on `endpoint` (SO_REUSEPORT). Throws on failure.
  void listen(const boost::asio::ip::tcp::endpoint& endpoint);
  void start();
  // Stops accepting and closes every client with 1001; the thread ends once
  // every session is gone. Thread-safe.
  void stop();
  void join();

  // Hands frames to this loop's members of their rooms. Loop thread only.
  void deliver(const frame_ptr& f);
  void deliver(const std::vector<frame_ptr>& batch);
  // Messages of rooms this loop orders, read by other loops: each gets its
  // offset, then is delivered and published like a message read here.
  void sequence(const std::vector<frame_ptr>& batch);
  // A session of loop `loop` wants history of a room this loop orders: the
  // answer goes back to it at the end of this pass, behind what the pass
  // published. And the answer, on the session's loop.
  void serve_history(const std::string& room, const history_request& request, std::uint64_t loop,
                     std::uint64_t session);
  void history_arrived(std::uint64_t session, const history_answer& answer);
  // In a cluster: this node and the peers it is linked to now (node ids),
  // from the cluster actor, in the order the view changed; whether the node
  // is ready (every seed linked, or the start-up grace over); and how many
  // nodes it has known. Rooms go to their ordering_node in the view; this
  // loop drops its logs of the rooms it no longer orders, and of every room
  // when the view is no majority of the known nodes (this node may be the
  // one cut off, and the others order its rooms now). History requests wait
  // until the node is ready: a restarted node asked to resume before it has
  // found the room's ordering node would answer from its own empty log.
  void set_view(std::vector<std::string> nodes, bool ready, std::uint64_t known);
  // Peers know of generation `generation` of `room`: held handshakes may be answered.
  void announced(const std::string& room, std::uint64_t generation);
  // From the presence actor: the snapshot for chatd.v1 session `connection`
  // (if it is still here), and join/leave events for the v1 members of the
  // frames' rooms that have had their snapshot (it covers what came before).
  void presence_snapshot(std::uint64_t connection, const std::vector<frame_ptr>& snapshot);
  void presence_events(const std::vector<frame_ptr>& events);
  // Closes this loop's sessions of `user` in `room` with 4003 (removed).
  void remove_user(const std::string& room, const std::string& user);

  // From the server API, on this loop's thread: a message into `f->room`,
  // delivered to this loop's members and passed on like a client's, and a
  // removal of a user from a room on every loop and node.
  void publish_from_api(frame_ptr f);
  void remove_everywhere(const std::string& room, const std::string& user);

  // Called by sessions, on this loop's thread.
  void publish(frame_ptr f);
  // A chatd.v1 session that has joined and may be written to asks for what
  // its upgrade URL asked for (history_arrived brings it).
  void request_history(websocket_session& session, const history_request& request);
  // A chatd.v1 session of a room another node orders got a message after a
  // gap: it asks for what it missed (one question for every session of the
  // loop with the same gap; history_arrived brings it to each). Whether it
  // may: only where messages come over a link.
  void request_repair(websocket_session& session, const history_request& request);
  bool may_repair(const std::string& room) const { return tracks_places() && !ours(room); }
  // Whether sessions keep their place in their room's sequence at all: a
  // single node's sessions never see a gap (its data path stays as it was).
  bool tracks_places() const { return events_ && directory_.clustered() && ordered(); }
  // True when the session must wait for announced() before its handshake is answered.
  bool join(websocket_session& session, const std::string& name);
  void leave(websocket_session& session);
  void schedule_flush(std::shared_ptr<websocket_session> session);
  void backlog_over(websocket_session& session);
  void backlog_under(websocket_session& session);
  bool room_backlogged(const websocket_session& session) const;
  void reading_paused(websocket_session& session);
  // A paused session is closing: it reads no more, and must not be kept alive.
  void unpause(websocket_session& session);
  // A session whose token expires at `when` is closed with 4001 then;
  // forget_expiry when it ends first.
  void expire_at(websocket_session& session, std::chrono::system_clock::time_point when);
  void forget_expiry(websocket_session& session, std::chrono::system_clock::time_point when);
  void track(http_session& session) { http_sessions_.insert(&session); }
  void untrack(http_session& session) { http_sessions_.erase(&session); }

  std::size_t index() const { return index_; }
  // Unique on this node: the loop's index in the top 16 bits.
  std::uint64_t next_session_id() { return (static_cast<std::uint64_t>(index_) << 48) | ++sessions_made_; }
  boost::asio::io_context& context() { return ioc_; }
  const server_options& options() const { return options_; }
  chat_metrics& metrics() { return metrics_; }
  class admission& admission() {
    return admission_;
  }
  // Null until the server sets it.
  const presence_table* presence() const { return presence_; }

private:
  void do_accept();
  void close_everything();
  void maybe_finish();
  void end_of_pass_needed();
  void end_of_pass();
  void start_idle_sweep();
  void start_backlog_sweep();
  void arm_expiry_timer();
  void expire_tokens();
  void backlog_sweep();
  void deliver_in(room_state& room, const frame_ptr& f);
  // Whether rooms have one order (always on one node; in a cluster unless
  // --cluster-order off: see docs/DESIGN.md "Order, history and resume"),
  // whether this node orders `room`, and whether this loop does.
  bool ordered() const { return !directory_.clustered() || options_.cluster_order; }
  bool ours(const std::string& room) const {
    return !directory_.clustered() || *ordering_node(room, view_) == options_.node_id;
  }
  bool orders(const std::string& room) const { return home_loop(room, options_.threads) == index_; }
  void order(frame_ptr f);
  void ask_history(websocket_session& session, const history_request& request);
  void sequence_here(const frame_ptr& f);
  void report_history();
  presence_session presence_of(const websocket_session& session, const std::string& room) const;
  void resume(room_state& room);

  std::size_t index_;
  const server_options& options_;
  chat_metrics& metrics_;
  class admission& admission_;
  room_directory& directory_;
  boost::asio::io_context ioc_{1};
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer accept_retry_;
  boost::asio::steady_timer idle_sweep_;
  boost::asio::steady_timer backlog_sweep_;
  // One timer for every token's expiry, armed for the earliest.
  boost::asio::system_timer expiry_timer_;
  std::set<std::pair<std::chrono::system_clock::time_point, websocket_session*>> expiries_;
  loop_events* events_ = nullptr;
  const presence_table* presence_ = nullptr;
  std::unordered_map<std::string, room_state> rooms_;
  std::unordered_set<http_session*> http_sessions_;
  std::unordered_map<std::uint64_t, websocket_session*> awaiting_snapshot_; // chatd.v1 members, by id
  std::uint64_t sessions_made_ = 0;
  std::vector<std::shared_ptr<websocket_session>> dirty_; // to write at the end of this pass
  std::vector<std::shared_ptr<websocket_session>> writing_;
  std::vector<frame_ptr> published_; // to hand to the broadcaster at the end of this pass
  std::vector<frame_ptr> forwarded_; // to the loops that order their rooms, at the end of this pass
  std::vector<frame_ptr> elsewhere_; // to the nodes that order their rooms, at the end of this pass
  std::vector<std::string> view_;    // this node and its linked peers (ordering_node)
  bool cluster_ready_ = false;
  struct waiting_request {
    std::uint64_t session;
    history_request request;
  };
  std::vector<waiting_request> before_ready_; // history requests made before the node was ready
  // Repairs on their way, by room, epoch and offset: the sessions waiting
  // for each, and the session whose question it is.
  std::unordered_map<std::string, std::vector<std::uint64_t>> repairs_;
  std::unordered_map<std::uint64_t, std::string> repair_asked_by_;
  history_store history_;
  struct answer_to {
    std::uint64_t loop;
    std::uint64_t session;
    history_answer answer;
  };
  std::vector<answer_to> answers_;                                  // sent after published_
  std::unordered_map<std::uint64_t, websocket_session*> replaying_; // waiting for an answer, by id
  std::size_t history_bytes_reported_ = 0;
  std::size_t history_messages_reported_ = 0;
  std::size_t backlogged_ = 0; // members over --max-queue-bytes, all rooms
  std::size_t paused_ = 0;     // members not read from, all rooms
  bool end_of_pass_posted_ = false;
  bool backlog_sweep_running_ = false;
  bool stopping_ = false;
  bool finished_ = false;
  std::thread thread_;
};

} // namespace chatd::net
