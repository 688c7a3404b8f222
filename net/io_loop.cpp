#include "net/io_loop.hpp"

#include "net/admission.hpp"
#include "net/http_session.hpp"
#include "net/websocket_session.hpp"

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

namespace chatd::net {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {
// How often a loop whose members are over --max-queue-bytes checks the grace
// period and whether paused publishers may be read again.
constexpr std::chrono::milliseconds backlog_sweep_period{50};
} // namespace

io_loop::io_loop(std::size_t index, const server_options& options, chat_metrics& metrics, class admission& admission,
                 room_directory& directory)
  : index_(index)
  , options_(options)
  , metrics_(metrics)
  , admission_(admission)
  , directory_(directory)
  , work_(asio::make_work_guard(ioc_))
  , acceptor_(ioc_)
  , accept_retry_(ioc_)
  , idle_sweep_(ioc_)
  , backlog_sweep_(ioc_) {}

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
  start_idle_sweep();
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
  acceptor_.async_accept(ioc_, [this](boost::system::error_code ec, loop_socket socket) {
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

// One timer for every connection's idle deadline: a quarter of
// --idle-timeout apart, each session pings after half of it in silence and
// is closed after all of it (see websocket_session::check_idle).
void io_loop::start_idle_sweep() {
  idle_sweep_.expires_after(options_.idle_timeout / 4);
  idle_sweep_.async_wait([this](boost::system::error_code ec) {
    if (ec || stopping_)
      return;
    // check_idle may close a session, which leaves its room only once its
    // handlers are done: the tables do not change under this loop.
    for (auto& [name, room] : rooms_)
      for (auto* session : room.members)
        session->check_idle();
    start_idle_sweep();
  });
}

void io_loop::deliver_in(room_state& room, const frame_ptr& f) {
  metrics_.broadcast_latency.Observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - f->received_at).count());
  // A session may be closed as slow by send(); it stays a member until its
  // handlers are done, so the list does not change under this loop.
  for (auto* session : room.members)
    session->send(f);
}

void io_loop::deliver(const frame_ptr& f) {
  auto it = rooms_.find(f->room);
  if (it != rooms_.end())
    deliver_in(it->second, f);
}

void io_loop::deliver(const std::vector<frame_ptr>& batch) {
  room_state* room = nullptr;
  const std::string* name = nullptr;
  for (const auto& f : batch) {
    if (!name || *name != f->room) {
      auto it = rooms_.find(f->room);
      room = it == rooms_.end() ? nullptr : &it->second;
      name = &f->room;
    }
    if (room)
      deliver_in(*room, f);
  }
}

void io_loop::publish(frame_ptr f) {
  auto it = rooms_.find(f->room);
  if (it == rooms_.end())
    return; // the sender has left already
  deliver_in(it->second, f);
  if (!events_ || !directory_.leaves_loop(*it->second.presence))
    return; // nobody else has members: the message never leaves this loop
  published_.push_back(std::move(f));
  end_of_pass_needed();
}

void io_loop::schedule_flush(std::shared_ptr<websocket_session> session) {
  dirty_.push_back(std::move(session));
  end_of_pass_needed();
}

void io_loop::end_of_pass_needed() {
  if (end_of_pass_posted_)
    return;
  end_of_pass_posted_ = true;
  // Behind every handler that is ready now: they run first, then this.
  asio::post(ioc_, [this] { end_of_pass(); });
}

void io_loop::end_of_pass() {
  end_of_pass_posted_ = false;
  if (!published_.empty()) {
    std::vector<frame_ptr> batch;
    batch.swap(published_);
    if (events_)
      events_->on_publish(std::move(batch));
  }
  writing_.swap(dirty_);
  for (auto& session : writing_)
    session->flush();
  writing_.clear();
}

bool io_loop::join(websocket_session& session, const std::string& name) {
  if (stopping_) {
    session.shutdown();
    return false;
  }
  auto [it, added] = rooms_.try_emplace(name);
  auto& room = it->second;
  bool hold = false;
  if (added) {
    room.name = &it->first;
    room.presence = directory_.get(name);
    auto state = room.presence->add_loop([&](std::uint64_t generation) {
      if (events_)
        events_->on_node_interest(name, true, generation);
    });
    if (directory_.clustered() && !state.announced) {
      hold = true;
      session.generation = state.generation;
    }
  } else if (directory_.clustered()) {
    // Another member here still waits for peers: so does this one.
    for (auto* member : room.members)
      if (member->held()) {
        hold = true;
        session.generation = member->generation;
        break;
      }
  }
  session.room_entry = &room;
  session.slot = static_cast<std::uint32_t>(room.members.size());
  room.members.push_back(&session);
  metrics_.connections.Increment();
  if (events_)
    events_->on_join(name, added);
  return hold;
}

void io_loop::announced(const std::string& name, std::uint64_t generation) {
  auto it = rooms_.find(name);
  if (it == rooms_.end())
    return;
  for (auto* member : it->second.members)
    if (member->held() && member->generation <= generation)
      member->release();
}

void io_loop::leave(websocket_session& session) {
  auto* room = session.room_entry;
  if (!room)
    return;
  session.room_entry = nullptr;
  auto& members = room->members;
  members[session.slot] = members.back();
  members[session.slot]->slot = session.slot;
  members.pop_back();
  metrics_.connections.Decrement();
  bool last = members.empty();
  std::string name = *room->name;
  if (last) {
    room->presence->remove_loop([&] {
      if (events_)
        events_->on_node_interest(name, false, 0);
    });
    rooms_.erase(name);
  }
  if (events_)
    events_->on_leave(name, last);
  maybe_finish();
}

void io_loop::backlog_over(websocket_session& session) {
  auto* room = session.room_entry;
  if (!room)
    return;
  if (room->over_limit++ == 0)
    room->presence->add_backlogged();
  ++backlogged_;
  start_backlog_sweep();
}

void io_loop::backlog_under(websocket_session& session) {
  auto* room = session.room_entry;
  if (!room)
    return;
  --backlogged_;
  if (--room->over_limit == 0) {
    room->presence->remove_backlogged();
    if (!room->presence->backlogged())
      resume(*room);
  }
}

void io_loop::resume(room_state& room) {
  auto paused = std::move(room.paused);
  room.paused.clear();
  paused_ -= paused.size();
  for (auto& session : paused)
    session->resume_reading();
}

bool io_loop::room_backlogged(const websocket_session& session) const {
  return session.room_entry && session.room_entry->presence->backlogged();
}

void io_loop::reading_paused(websocket_session& session) {
  if (!session.room_entry)
    return;
  session.room_entry->paused.push_back(session.shared_from_this());
  ++paused_;
  metrics_.reads_paused.Increment();
  start_backlog_sweep();
}

void io_loop::unpause(websocket_session& session) {
  if (!session.room_entry)
    return;
  auto& paused = session.room_entry->paused;
  for (auto it = paused.begin(); it != paused.end(); ++it)
    if (it->get() == &session) {
      auto keep = std::move(*it); // the caller is still inside the session
      paused.erase(it);
      --paused_;
      return;
    }
}

void io_loop::start_backlog_sweep() {
  if (backlog_sweep_running_)
    return;
  backlog_sweep_running_ = true;
  backlog_sweep_.expires_after(backlog_sweep_period);
  backlog_sweep_.async_wait([this](boost::system::error_code ec) {
    backlog_sweep_running_ = false;
    if (!ec)
      backlog_sweep();
  });
}

void io_loop::backlog_sweep() {
  auto now = std::chrono::steady_clock::now();
  for (auto& [name, room] : rooms_) {
    if (room.over_limit > 0)
      for (auto* member : room.members)
        member->check_slow(now);
    // Members of another loop may have been the backlog: look again.
    if (!room.paused.empty() && !room.presence->backlogged())
      resume(room);
  }
  if (backlogged_ > 0 || paused_ > 0)
    start_backlog_sweep();
}

void io_loop::close_everything() {
  if (stopping_)
    return;
  stopping_ = true;
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  accept_retry_.cancel();
  idle_sweep_.cancel();
  for (auto* session : http_sessions_)
    session->shutdown();
  std::vector<std::shared_ptr<websocket_session>> sessions;
  for (auto& [room, state] : rooms_)
    for (auto* session : state.members)
      sessions.push_back(session->shared_from_this());
  for (auto& session : sessions)
    session->shutdown();
  maybe_finish();
}

void io_loop::maybe_finish() {
  if (!stopping_ || finished_ || !rooms_.empty())
    return;
  finished_ = true;
  backlog_sweep_.cancel();
  if (events_)
    events_->on_stopped();
  // run() returns once the last handler (closing HTTP sessions, timers) is done.
  work_.reset();
}

} // namespace chatd::net
