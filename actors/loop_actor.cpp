#include "actors/loop_actor.hpp"

#include "actors/broadcaster.hpp"
#include "proto/atoms.hpp"
#include "proto/tsan.hpp"

#include <boost/asio/post.hpp>

namespace chatd::actors {

loop_actor::loop_actor(caf::actor_system& system, net::io_loop& loop) : unit_(&system), loop_(loop) {
  handle_ = caf::actor_cast<caf::strong_actor_ptr>(system.spawn<caf::actor_companion>());
  // Runs on the sender's thread: only hand the message over to the loop.
  self()->on_enqueue([this](caf::mailbox_element_ptr msg) {
    boost::asio::post(loop_.context(), [this, m = std::shared_ptr<caf::mailbox_element>(msg.release())] {
      if (open_)
        self()->activate(&unit_, *m);
    });
  });
  self()->become(
      [this](deliver_atom, const frame_batch& batch) {
        for (auto& f : batch)
          taken_over(f.get());
        loop_.deliver(batch);
      },
      [this](sequence_atom, const frame_batch& batch) {
        for (auto& f : batch)
          taken_over(f.get());
        loop_.sequence(batch);
      },
      [this](histreq_atom, const std::string& room, const net::history_request& request, std::uint64_t loop,
             std::uint64_t session) { loop_.serve_history(room, request, loop, session); },
      [this](histans_atom, std::uint64_t session, const net::history_answer& answer) {
        for (auto& f : answer.frames)
          taken_over(f.get());
        loop_.history_arrived(session, answer);
      },
      [this](announced_atom, const std::string& room, std::uint64_t generation) { loop_.announced(room, generation); },
      [this](view_atom, std::vector<std::string> nodes, bool ready, std::uint64_t known) {
        loop_.set_view(std::move(nodes), ready, known);
      },
      [this](psnap_atom, std::uint64_t connection, const frame_batch& snapshot) {
        loop_.presence_snapshot(connection, snapshot);
      },
      [this](pevent_atom, const frame_batch& events) { loop_.presence_events(events); },
      [this](remove_atom, const std::string& room, const std::string& user) { loop_.remove_user(room, user); });
}

loop_actor::~loop_actor() {
  // A loop that never ran still holds an open companion.
  if (open_)
    close();
}

caf::actor loop_actor::handle() const { return caf::actor_cast<caf::actor>(handle_); }

caf::actor_companion* loop_actor::self() const {
  return static_cast<caf::actor_companion*>(caf::actor_cast<caf::abstract_actor*>(handle_));
}

void loop_actor::connect(caf::actor registry, caf::actor broadcaster, caf::actor cluster, caf::actor presence) {
  presence_ = std::move(presence);
  registry_ = std::move(registry);
  broadcaster_ = std::move(broadcaster);
  cluster_ = std::move(cluster);
}

// The route goes straight to the broadcaster, not through the registry: it is
// enqueued before the client learns it is connected, so any message published
// after that (from any loop or node) finds this loop in the room.
void loop_actor::on_join(const std::string& room, bool first) {
  auto loop = static_cast<std::uint64_t>(loop_.index());
  if (first)
    self()->send(broadcaster_, route_atom::value, room, loop, true);
  self()->send(registry_, track_atom::value, room, loop);
}

void loop_actor::on_leave(const std::string& room, bool last) {
  auto loop = static_cast<std::uint64_t>(loop_.index());
  if (last)
    self()->send(broadcaster_, route_atom::value, room, loop, false);
  self()->send(registry_, untrack_atom::value, room, loop);
}

void loop_actor::on_presence_join(const presence_session& s) {
  if (presence_)
    self()->send(presence_, pjoin_atom::value, s);
}

void loop_actor::on_presence_leave(const presence_session& s) {
  if (presence_)
    self()->send(presence_, pleave_atom::value, s);
}

void loop_actor::on_node_interest(const std::string& room, bool present, std::uint64_t generation) {
  if (cluster_)
    self()->send(cluster_, node_room_atom::value, room, present, generation);
}

void loop_actor::on_publish(std::vector<frame_ptr> batch) {
  for (auto& f : batch)
    handed_over(f.get());
  self()->send(broadcaster_, publish_atom::value, std::move(batch), static_cast<std::uint64_t>(loop_.index()));
}

void loop_actor::on_forward(std::vector<frame_ptr> batch) {
  for (auto& f : batch)
    handed_over(f.get());
  self()->send(broadcaster_, order_atom::value, std::move(batch));
}

void loop_actor::on_history_request(const std::string& room, const net::history_request& request, std::uint64_t loop,
                                    std::uint64_t session) {
  self()->send(broadcaster_, histreq_atom::value, room, request, loop, session);
}

void loop_actor::on_history_answer(std::uint64_t loop, std::uint64_t session, const net::history_answer& answer) {
  for (auto& f : answer.frames)
    handed_over(f.get());
  self()->send(broadcaster_, histans_atom::value, loop, session, answer);
}

// Straight to the cluster actor, which sends them to the node that orders
// their room in its view (or back to this node's broadcaster, if that is
// this node by now): one sender per receiver, so a session's messages stay
// in the order it sent them.
void loop_actor::on_order_elsewhere(std::vector<frame_ptr> batch) {
  for (auto& f : batch)
    handed_over(f.get()); // the cluster actor may hand it to this node's home loop after all
  if (cluster_)
    self()->send(cluster_, order_atom::value, std::move(batch));
}

void loop_actor::on_remote_history_request(const std::string& room, const net::history_request& request,
                                           std::uint64_t loop, std::uint64_t session) {
  if (cluster_)
    self()->send(cluster_, histreq_atom::value, room, request, loop, session);
}

void loop_actor::on_remove(const std::string& room, const std::string& user) {
  self()->send(broadcaster_, remove_atom::value, room, user, static_cast<std::uint64_t>(loop_.index()));
}

void loop_actor::on_stopped() { close(); }

void loop_actor::close() {
  open_ = false;
  // After this returns no sender thread is inside the old handler, so nothing
  // posts into the loop once it stops.
  self()->on_enqueue([](caf::mailbox_element_ptr) {});
  self()->cleanup(caf::make_error(caf::exit_reason::user_shutdown), &unit_);
}

} // namespace chatd::actors
