#pragma once

#include "net/loop_events.hpp"
#include "net/room_directory.hpp"
#include "net/server_options.hpp"
#include "proto/chat_metrics.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <memory>
#include <optional>
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
  io_loop(std::size_t index, const server_options& options, chat_metrics& metrics, class admission& admission,
          room_directory& directory);
  ~io_loop();
  io_loop(const io_loop&) = delete;
  io_loop& operator=(const io_loop&) = delete;

  // Set before start(); called on this loop's thread.
  void set_events(loop_events* events) { events_ = events; }
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
  // Peers know of generation `generation` of `room`: held handshakes may be answered.
  void announced(const std::string& room, std::uint64_t generation);

  // Called by sessions, on this loop's thread.
  void publish(frame_ptr f);
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
  void track(http_session& session) { http_sessions_.insert(&session); }
  void untrack(http_session& session) { http_sessions_.erase(&session); }

  std::size_t index() const { return index_; }
  boost::asio::io_context& context() { return ioc_; }
  const server_options& options() const { return options_; }
  chat_metrics& metrics() { return metrics_; }
  class admission& admission() {
    return admission_;
  }

private:
  void do_accept();
  void close_everything();
  void maybe_finish();
  void end_of_pass_needed();
  void end_of_pass();
  void start_idle_sweep();
  void start_backlog_sweep();
  void backlog_sweep();
  void deliver_in(room_state& room, const frame_ptr& f);
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
  loop_events* events_ = nullptr;
  std::unordered_map<std::string, room_state> rooms_;
  std::unordered_set<http_session*> http_sessions_;
  std::vector<std::shared_ptr<websocket_session>> dirty_; // to write at the end of this pass
  std::vector<std::shared_ptr<websocket_session>> writing_;
  std::vector<frame_ptr> published_; // to hand to the broadcaster at the end of this pass
  std::size_t backlogged_ = 0;       // members over --max-queue-bytes, all rooms
  std::size_t paused_ = 0;           // members not read from, all rooms
  bool end_of_pass_posted_ = false;
  bool backlog_sweep_running_ = false;
  bool stopping_ = false;
  bool finished_ = false;
  std::thread thread_;
};

} // namespace chatd::net
