#pragma once

#include "net/io_loop.hpp"
#include "net/loop_events.hpp"

#include <caf/actor.hpp>
#include <caf/actor_companion.hpp>
#include <caf/actor_system.hpp>
#include <caf/scoped_execution_unit.hpp>

namespace chatd::actors {

// Makes an io_loop a network actor. Messages sent to handle() are posted into
// the loop and handled on its thread, so the loop's sessions need no lock;
// what the loop reports goes out as actor messages: joins and leaves to the
// registry (counts), a room's first / last member on this loop to the
// broadcaster (routes), the node's first / last member of a room to the
// cluster actor (interest), each session's join and leave with its identity
// to the presence actor, and each pass's client messages to the
// broadcaster, as one batch. The presence actor's snapshots and events come
// back the same way.
class loop_actor final : public net::loop_events {
public:
  loop_actor(caf::actor_system& system, net::io_loop& loop);
  ~loop_actor() override;
  loop_actor(const loop_actor&) = delete;
  loop_actor& operator=(const loop_actor&) = delete;

  caf::actor handle() const;
  // Before the loop starts. `cluster` is empty when the node is not clustered.
  void connect(caf::actor registry, caf::actor broadcaster, caf::actor cluster, caf::actor presence = {});

  void on_join(const std::string& room, bool first) override;
  void on_leave(const std::string& room, bool last) override;
  void on_presence_join(const presence_session& s) override;
  void on_presence_leave(const presence_session& s) override;
  void on_node_interest(const std::string& room, bool present, std::uint64_t generation) override;
  void on_publish(std::vector<frame_ptr> batch) override;
  void on_forward(std::vector<frame_ptr> batch) override;
  void on_history_request(const std::string& room, const net::history_request& request, std::uint64_t loop,
                          std::uint64_t session) override;
  void on_history_answer(std::uint64_t loop, std::uint64_t session, const net::history_answer& answer) override;
  void on_order_elsewhere(std::vector<frame_ptr> batch) override;
  void on_remote_history_request(const std::string& room, const net::history_request& request, std::uint64_t loop,
                                 std::uint64_t session) override;
  void on_remove(const std::string& room, const std::string& user) override;
  void on_stopped() override;

private:
  caf::actor_companion* self() const;
  void close();

  // Must be built with the system: CAF 0.17.6 crashes when a companion with
  // a default-built unit wakes another actor.
  caf::scoped_execution_unit unit_;
  net::io_loop& loop_;
  caf::strong_actor_ptr handle_;
  caf::actor registry_;
  caf::actor broadcaster_;
  caf::actor cluster_;
  caf::actor presence_;
  bool open_ = true;
};

} // namespace chatd::actors
