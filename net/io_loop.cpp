#include "net/io_loop.hpp"

#include "net/admission.hpp"
#include "net/http_session.hpp"
#include "net/websocket_session.hpp"

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace chatd::net {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {
// How often a loop whose members are over --max-queue-bytes checks the grace
// period and whether paused publishers may be read again.
constexpr std::chrono::milliseconds backlog_sweep_period{50};

// Each loop keeps its share of --history-max-bytes.
history_limits limits_of(const server_options& options) {
  auto loops = std::max<std::size_t>(options.threads, 1);
  // A replay fills at most half of a session's queue, so that it never
  // makes the session a backlog that pauses its room's publishers.
  return {options.history_size, options.history_ttl, options.history_max_bytes / loops,
          std::max<std::size_t>(options.max_queue_bytes / 2, 1)};
}
} // namespace

io_loop::io_loop(std::size_t index, const server_options& options, chat_metrics& metrics, class admission& admission,
                 room_directory& directory, const std::string& epoch_prefix)
  : index_(index)
  , options_(options)
  , metrics_(metrics)
  , admission_(admission)
  , directory_(directory)
  , history_(epoch_prefix + "-" + std::to_string(index), limits_of(options), directory)
  , view_{options.node_id}
  , work_(asio::make_work_guard(ioc_))
  , acceptor_(ioc_)
  , accept_retry_(ioc_)
  , idle_sweep_(ioc_)
  , backlog_sweep_(ioc_)
  , expiry_timer_(ioc_) {}

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
    history_.sweep(std::chrono::steady_clock::now());
    report_history();
    start_idle_sweep();
  });
}

void io_loop::expire_at(websocket_session& session, std::chrono::system_clock::time_point when) {
  auto [it, added] = expiries_.emplace(when, &session);
  if (added && it == expiries_.begin())
    arm_expiry_timer();
}

void io_loop::forget_expiry(websocket_session& session, std::chrono::system_clock::time_point when) {
  // The timer stays armed for an entry that is gone: it finds nothing due.
  expiries_.erase({when, &session});
}

void io_loop::arm_expiry_timer() {
  if (stopping_ || expiries_.empty())
    return;
  // Setting the time cancels the wait for a later entry.
  expiry_timer_.expires_at(expiries_.begin()->first);
  expiry_timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec)
      expire_tokens();
  });
}

void io_loop::expire_tokens() {
  const auto now = std::chrono::system_clock::now();
  std::vector<std::shared_ptr<websocket_session>> due;
  while (!expiries_.empty() && expiries_.begin()->first <= now) {
    due.push_back(expiries_.begin()->second->shared_from_this());
    expiries_.erase(expiries_.begin());
  }
  for (auto& session : due)
    session->token_expired();
  arm_expiry_timer();
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
  if (ordered())
    return order(std::move(f));
  auto it = rooms_.find(f->room);
  if (it == rooms_.end())
    return; // the sender has left already
  deliver_in(it->second, f);
  if (!events_ || !directory_.leaves_loop(*it->second.presence))
    return; // nobody else has members: the message never leaves this loop
  published_.push_back(std::move(f));
  end_of_pass_needed();
}

void io_loop::publish_from_api(frame_ptr f) {
  if (ordered()) {
    // Handed to the broadcaster now, before the 202 goes out, even when this
    // loop orders the room: a backend that posts its next message after the
    // answer (on any loop) gets it ordered after this one. (Read here
    // directly, a later post could overtake an earlier one still on its hop.)
    if (!events_)
      return sequence_here(f);
    if (!ours(f->room))
      events_->on_order_elsewhere({std::move(f)});
    else
      events_->on_forward({std::move(f)});
    return;
  }
  // This loop may have no members of the room, so the message always goes
  // on: the broadcaster and the cluster actor route it like any other.
  if (auto it = rooms_.find(f->room); it != rooms_.end())
    deliver_in(it->second, f);
  if (!events_)
    return;
  published_.push_back(std::move(f));
  end_of_pass_needed();
}

// A message is delivered only once it has its offset, by the loop that
// orders its room (on the node that orders it): so every member on every
// loop and node gets the room's messages in one order. A room this loop
// orders takes no hop.
void io_loop::order(frame_ptr f) {
  if (events_ && !ours(f->room)) {
    elsewhere_.push_back(std::move(f));
    end_of_pass_needed();
    return;
  }
  if (orders(f->room) || !events_)
    return sequence_here(f);
  forwarded_.push_back(std::move(f));
  end_of_pass_needed();
}

void io_loop::sequence(const std::vector<frame_ptr>& batch) {
  for (auto& f : batch)
    sequence_here(f);
}

void io_loop::sequence_here(const frame_ptr& f) {
  auto& log = history_.append(f);
  auto it = rooms_.find(f->room);
  bool here = it != rooms_.end();
  if (here)
    deliver_in(it->second, f);
  // Other loops with members (the sender's, if it was read elsewhere), or peers.
  auto& presence = log.presence();
  if (!events_ || (presence.loops() <= (here ? 1u : 0u) && presence.peers() == 0 && directory_.unknown_peers() == 0))
    return;
  published_.push_back(f);
  end_of_pass_needed();
}

void io_loop::request_history(websocket_session& session, const history_request& request) {
  if (!ordered()) {
    // --cluster-order off: no offsets, nothing to resume from; say so.
    session.replay({false, nullptr, 0, {}}, request);
    return;
  }
  if (directory_.clustered() && !cluster_ready_ && events_) {
    session.begin_replay();
    replaying_.emplace(session.id(), &session);
    before_ready_.push_back({session.id(), request});
    return;
  }
  ask_history(session, request);
}

void io_loop::request_repair(websocket_session& session, const history_request& request) {
  auto key = session.room();
  key += '\n';
  key += request.epoch;
  key += ':';
  key += std::to_string(request.offset);
  replaying_.emplace(session.id(), &session);
  if (!cluster_ready_)
    return request_history(session, request); // waits for the node on its own (an asker may leave first)
  auto& waiting = repairs_[key];
  waiting.push_back(session.id());
  if (waiting.size() > 1)
    return;
  repair_asked_by_.emplace(session.id(), std::move(key));
  request_history(session, request);
}

void io_loop::ask_history(websocket_session& session, const history_request& request) {
  const auto& room = session.room();
  bool here = ours(room);
  if (!events_ || (here && orders(room))) {
    if (session.replaying())
      return history_arrived(session.id(), history_.answer(room, request));
    session.replay(history_.answer(room, request), request);
    return;
  }
  if (!session.replaying()) {
    session.begin_replay();
    replaying_.emplace(session.id(), &session);
  }
  if (here)
    events_->on_history_request(room, request, index_, session.id());
  else
    events_->on_remote_history_request(room, request, index_, session.id());
}

void io_loop::set_view(std::vector<std::string> nodes, bool ready, std::uint64_t known) {
  std::sort(nodes.begin(), nodes.end());
  if (!std::binary_search(nodes.begin(), nodes.end(), options_.node_id))
    nodes.insert(std::upper_bound(nodes.begin(), nodes.end(), options_.node_id), options_.node_id);
  view_ = std::move(nodes);
  // A room that moved away may be ordered elsewhere meanwhile: should it
  // come back, its sequence here starts again under a new epoch.
  const bool minority = view_.size() * 2 <= known;
  history_.retire([this, minority](const std::string& room) { return minority || !ours(room); });
  report_history();
  cluster_ready_ = ready;
  if (!ready)
    return;
  auto waiting = std::move(before_ready_);
  before_ready_.clear();
  for (auto& w : waiting)
    if (auto it = replaying_.find(w.session); it != replaying_.end())
      ask_history(*it->second, w.request);
}

void io_loop::serve_history(const std::string& room, const history_request& request, std::uint64_t loop,
                            std::uint64_t session) {
  answers_.push_back({loop, session, history_.answer(room, request)});
  end_of_pass_needed();
}

void io_loop::history_arrived(std::uint64_t session, const history_answer& answer) {
  if (auto asked = repair_asked_by_.find(session); asked != repair_asked_by_.end()) {
    auto node = repairs_.extract(asked->second);
    repair_asked_by_.erase(asked);
    for (auto id : node.mapped())
      if (auto it = replaying_.find(id); it != replaying_.end()) {
        auto* s = it->second;
        replaying_.erase(it);
        s->end_replay(answer);
      }
    return;
  }
  auto it = replaying_.find(session);
  if (it == replaying_.end())
    return; // it has left already
  auto* s = it->second;
  replaying_.erase(it);
  s->end_replay(answer);
}

void io_loop::report_history() {
  auto bytes = history_.bytes();
  auto messages = history_.messages();
  if (bytes != history_bytes_reported_) {
    metrics_.history_bytes.Increment(static_cast<double>(bytes) - static_cast<double>(history_bytes_reported_));
    history_bytes_reported_ = bytes;
  }
  if (messages != history_messages_reported_) {
    metrics_.history_messages.Increment(static_cast<double>(messages) -
                                        static_cast<double>(history_messages_reported_));
    history_messages_reported_ = messages;
  }
}

void io_loop::remove_user(const std::string& room, const std::string& user) {
  auto it = rooms_.find(room);
  if (it == rooms_.end())
    return;
  // Picked first, closed after: closing touches the room's lists (a paused
  // session is taken off them).
  std::vector<std::shared_ptr<websocket_session>> removed;
  for (auto* session : it->second.members)
    if (session->who().user == user)
      removed.push_back(session->shared_from_this());
  for (auto& session : removed)
    session->remove();
}

void io_loop::remove_everywhere(const std::string& room, const std::string& user) {
  remove_user(room, user);
  if (events_)
    events_->on_remove(room, user);
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
  if (!forwarded_.empty()) {
    std::vector<frame_ptr> batch;
    batch.swap(forwarded_);
    if (events_)
      events_->on_forward(std::move(batch));
  }
  if (!elsewhere_.empty()) {
    std::vector<frame_ptr> batch;
    batch.swap(elsewhere_);
    if (events_)
      events_->on_order_elsewhere(std::move(batch));
  }
  if (!published_.empty()) {
    std::vector<frame_ptr> batch;
    batch.swap(published_);
    if (events_)
      events_->on_publish(std::move(batch));
  }
  // Behind what this pass published: a replay's seam (see history_arrived).
  for (auto& a : answers_)
    if (events_)
      events_->on_history_answer(a.loop, a.session, a.answer);
  answers_.clear();
  if (ordered())
    report_history();
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
  if (events_) {
    events_->on_join(name, added);
    if (session.v1())
      awaiting_snapshot_.emplace(session.id(), &session);
    events_->on_presence_join(presence_of(session, name));
  }
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

presence_session io_loop::presence_of(const websocket_session& session, const std::string& room) const {
  return presence_session{room, session.who().user, session.who().name, session.id(), index_, session.v1()};
}

void io_loop::presence_snapshot(std::uint64_t connection, const std::vector<frame_ptr>& snapshot) {
  auto it = awaiting_snapshot_.find(connection);
  if (it == awaiting_snapshot_.end())
    return; // it has left already
  auto* session = it->second;
  awaiting_snapshot_.erase(it);
  session->presence_synced = true;
  for (auto& f : snapshot)
    session->send(f);
}

void io_loop::presence_events(const std::vector<frame_ptr>& events) {
  for (auto& f : events) {
    auto it = rooms_.find(f->room);
    if (it == rooms_.end())
      continue;
    for (auto* member : it->second.members)
      if (member->presence_synced)
        member->send(f);
  }
}

void io_loop::leave(websocket_session& session) {
  auto* room = session.room_entry;
  if (!room)
    return;
  replaying_.erase(session.id());
  if (events_) {
    awaiting_snapshot_.erase(session.id());
    events_->on_presence_leave(presence_of(session, *room->name));
  }
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
  expiry_timer_.cancel();
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
