#include "net/io_loop.hpp"

#include "net/admission.hpp"
#include "net/http_session.hpp"
#include "net/websocket_session.hpp"

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

namespace chatd::net {

namespace asio = boost::asio;
using asio::ip::tcp;

io_loop::io_loop(std::size_t index, const server_options& options, chat_metrics& metrics, class admission& admission)
  : index_(index)
  , options_(options)
  , metrics_(metrics)
  , admission_(admission)
  , work_(asio::make_work_guard(ioc_))
  , acceptor_(ioc_)
  , accept_retry_(ioc_) {}

io_loop::~io_loop() {
  if (thread_.joinable()) {
    stop();
    thread_.join();
  }
}

void io_loop::listen(const tcp::endpoint& endpoint) {
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(tcp::acceptor::reuse_address(true));
  int one = 1;
  if (::setsockopt(acceptor_.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
    throw boost::system::system_error(errno, boost::system::system_category(), "SO_REUSEPORT");
  acceptor_.bind(endpoint);
  acceptor_.listen(asio::socket_base::max_listen_connections);
}

void io_loop::start() {
  do_accept();
  thread_ = std::thread([this] { ioc_.run(); });
}

void io_loop::join() {
  if (thread_.joinable())
    thread_.join();
}

void io_loop::stop() {
  asio::post(ioc_, [this] { close_everything(); });
}

void io_loop::do_accept() {
  acceptor_.async_accept(ioc_, [this](boost::system::error_code ec, tcp::socket socket) {
    if (ec) {
      if (stopping_ || ec == asio::error::operation_aborted)
        return;
      // Out of descriptors or similar: pause instead of spinning on the error.
      metrics_.accept_failures.Increment();
      if (auto suppressed = admission_.close_log.allow())
        spdlog::warn("loop {}: accept failed: {}; retrying in 100 ms{}", index_, ec.message(),
                     suppressed_note(*suppressed));
      accept_retry_.expires_after(std::chrono::milliseconds(100));
      accept_retry_.async_wait([this](boost::system::error_code wait_ec) {
        if (!wait_ec && !stopping_)
          do_accept();
      });
      return;
    }
    socket.set_option(tcp::no_delay(true));
    std::make_shared<http_session>(std::move(socket), *this)->run();
    do_accept();
  });
}

void io_loop::deliver(const frame_ptr& f) {
  auto it = rooms_.find(f->room);
  if (it == rooms_.end())
    return;
  metrics_.broadcast_latency.Observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - f->received_at).count());
  for (auto* session : it->second)
    session->send(f);
}

void io_loop::publish(frame_ptr f) {
  deliver(f);
  if (events_)
    events_->on_publish(f);
}

void io_loop::join(websocket_session& session) {
  if (stopping_) {
    session.shutdown();
    return;
  }
  auto& members = rooms_[session.room()];
  members.insert(&session);
  metrics_.connections.Increment();
  if (events_)
    events_->on_join(session.room(), members.size() == 1);
}

void io_loop::leave(websocket_session& session) {
  auto it = rooms_.find(session.room());
  if (it == rooms_.end() || it->second.erase(&session) == 0)
    return;
  bool last = it->second.empty();
  if (last)
    rooms_.erase(it);
  metrics_.connections.Decrement();
  if (events_)
    events_->on_leave(session.room(), last);
  maybe_finish();
}

void io_loop::close_everything() {
  if (stopping_)
    return;
  stopping_ = true;
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  accept_retry_.cancel();
  for (auto* session : http_sessions_)
    session->shutdown();
  for (auto& [room, members] : rooms_)
    for (auto* session : members)
      session->shutdown();
  maybe_finish();
}

void io_loop::maybe_finish() {
  if (!stopping_ || finished_ || !rooms_.empty())
    return;
  finished_ = true;
  if (events_)
    events_->on_stopped();
  // run() returns once the last handler (closing HTTP sessions, timers) is done.
  work_.reset();
}

} // namespace chatd::net
