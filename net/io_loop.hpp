#pragma once

#include "net/loop_events.hpp"
#include "net/server_options.hpp"
#include "proto/chat_metrics.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <optional>
#include <thread>
#include <unordered_map>
#include <unordered_set>

namespace chatd::net {

class admission;
class http_session;
class websocket_session;

// One event loop: an io_context on its own thread with its own SO_REUSEPORT
// acceptor. It owns every session it accepted and its table of who is in
// which room; all of that is touched on this loop's thread only.
class io_loop {
public:
  io_loop(std::size_t index, const server_options& options, chat_metrics& metrics, class admission& admission);
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

  // Hands `f` to this loop's members of f->room. Loop thread only.
  void deliver(const frame_ptr& f);

  // Called by sessions, on this loop's thread.
  void publish(frame_ptr f);
  void join(websocket_session& session);
  void leave(websocket_session& session);
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

  std::size_t index_;
  const server_options& options_;
  chat_metrics& metrics_;
  class admission& admission_;
  boost::asio::io_context ioc_{1};
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer accept_retry_;
  loop_events* events_ = nullptr;
  std::unordered_map<std::string, std::unordered_set<websocket_session*>> rooms_;
  std::unordered_set<http_session*> http_sessions_;
  bool stopping_ = false;
  bool finished_ = false;
  std::thread thread_;
};

} // namespace chatd::net
