#include "actors/broadcaster.hpp"
#include "actors/registry.hpp"
#include "proto/atoms.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <gtest/gtest.h>

using namespace chatd;
using namespace std::chrono_literals;

namespace {

// Stands in for a loop: forwards what it is given to the test, tagged with its index.
caf::behavior fake_loop(caf::event_based_actor*, caf::actor test, std::uint64_t index) {
  return {[=](deliver_atom, const frame_ptr& f) { caf::anon_send(test, index, f); }};
}

frame_ptr make_frame(std::string room, std::string bytes) {
  auto f = std::make_shared<frame>();
  f->room = std::move(room);
  f->bytes = std::move(bytes);
  return f;
}

class actors_test : public ::testing::Test {
protected:
  caf::actor_system_config config_;
  caf::actor_system system_{config_};
  caf::scoped_actor self_{system_};
};

TEST_F(actors_test, broadcaster_sends_once_to_each_other_loop_with_members) {
  std::vector<caf::actor> loops;
  for (std::uint64_t i = 0; i < 3; ++i)
    loops.push_back(system_.spawn(fake_loop, caf::actor{self_}, i));
  auto b = system_.spawn(actors::broadcaster, loops);
  self_->send(b, route_atom::value, std::string{"r"}, std::uint64_t{0}, true);
  self_->send(b, route_atom::value, std::string{"r"}, std::uint64_t{2}, true);
  self_->send(b, route_atom::value, std::string{"other"}, std::uint64_t{1}, true);
  auto f = make_frame("r", "hello");
  self_->send(b, publish_atom::value, f, std::uint64_t{0});

  // Only loop 2: loop 0 is the origin, loop 1 has no member of "r".
  self_->receive([&](std::uint64_t index, const frame_ptr& got) {
    EXPECT_EQ(index, 2u);
    EXPECT_EQ(got.get(), f.get()); // the same shared frame, not a copy
  });
  self_->receive([](std::uint64_t, const frame_ptr&) { FAIL() << "delivered twice"; }, caf::after(200ms) >> [] {});

  // After loop 2's last member leaves, nothing goes there.
  self_->send(b, route_atom::value, std::string{"r"}, std::uint64_t{2}, false);
  self_->send(b, publish_atom::value, f, std::uint64_t{0});
  self_->receive([](std::uint64_t, const frame_ptr&) { FAIL() << "delivered to a loop without members"; },
                 caf::after(200ms) >> [] {});
  for (auto& a : loops)
    self_->send_exit(a, caf::exit_reason::user_shutdown);
  self_->send_exit(b, caf::exit_reason::user_shutdown);
}

TEST_F(actors_test, registry_counts_connections_and_rooms) {
  chat_metrics metrics;
  auto reg = system_.spawn(actors::registry, std::size_t{2}, &metrics);
  auto count = [&] {
    std::uint64_t n = ~std::uint64_t{0};
    self_->request(reg, 5s, count_atom::value).receive([&](std::uint64_t got) { n = got; }, [](caf::error&) {});
    return n;
  };
  self_->send(reg, track_atom::value, std::string{"r"}, std::uint64_t{1});
  self_->send(reg, track_atom::value, std::string{"r"}, std::uint64_t{1});
  self_->send(reg, track_atom::value, std::string{"s"}, std::uint64_t{0});
  EXPECT_EQ(count(), 3u); // the reply comes after the tracks: one mailbox, in order
  EXPECT_EQ(metrics.rooms.Value(), 2);

  self_->send(reg, untrack_atom::value, std::string{"r"}, std::uint64_t{1});
  self_->send(reg, untrack_atom::value, std::string{"r"}, std::uint64_t{1});
  EXPECT_EQ(count(), 1u);
  EXPECT_EQ(metrics.rooms.Value(), 1);
  self_->send_exit(reg, caf::exit_reason::user_shutdown);
}

} // namespace
