#include "actors/broadcaster.hpp"
#include "actors/registry.hpp"
#include "proto/atoms.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <gtest/gtest.h>

#include <map>
#include <set>

using namespace chatd;
using namespace std::chrono_literals;

namespace {

// Stands in for a loop: forwards what it is given to the test, tagged with its index.
caf::behavior fake_loop(caf::event_based_actor*, caf::actor test, std::uint64_t index) {
  return {
      [=](deliver_atom, const frame_batch& batch) { caf::anon_send(test, index, batch); },
      [=](remove_atom, const std::string& room, const std::string& user) { caf::anon_send(test, index, room, user); }};
}

frame_ptr make_frame(std::string room, std::string bytes) {
  return make_message_frame(std::move(room), bytes, false, std::chrono::steady_clock::now());
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
  auto g = make_frame("other", "elsewhere");
  auto h = make_frame("r", "again");
  // One pass of loop 0 published three messages: one hop per target loop.
  self_->send(b, publish_atom::value, frame_batch{f, g, h}, std::uint64_t{0});

  // Loop 2 gets the two of "r" in order, loop 1 the one of "other"; loop 0
  // is the origin. Each is the same shared frame, not a copy.
  std::map<std::uint64_t, frame_batch> got;
  for (int i = 0; i < 2; ++i)
    self_->receive([&](std::uint64_t index, const frame_batch& batch) { got[index] = batch; });
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[2], (frame_batch{f, h}));
  EXPECT_EQ(got[1], (frame_batch{g}));
  self_->receive([](std::uint64_t, const frame_batch&) { FAIL() << "delivered twice"; }, caf::after(200ms) >> [] {});

  // After loop 2's last member leaves, nothing goes there.
  self_->send(b, route_atom::value, std::string{"r"}, std::uint64_t{2}, false);
  self_->send(b, publish_atom::value, frame_batch{f}, std::uint64_t{0});
  self_->receive([](std::uint64_t, const frame_batch&) { FAIL() << "delivered to a loop without members"; },
                 caf::after(200ms) >> [] {});
  for (auto& a : loops)
    self_->send_exit(a, caf::exit_reason::user_shutdown);
  self_->send_exit(b, caf::exit_reason::user_shutdown);
}

TEST_F(actors_test, broadcaster_sends_a_removal_to_every_other_loop_and_from_a_local_one_to_the_cluster) {
  std::vector<caf::actor> loops;
  for (std::uint64_t i = 0; i < 3; ++i)
    loops.push_back(system_.spawn(fake_loop, caf::actor{self_}, i));
  auto b = system_.spawn(actors::broadcaster, loops);
  self_->send(b, cluster_atom::value, caf::actor{self_}); // the test stands in for the cluster actor too
  // No routes: a loop whose first member's route is on its way must get it too.
  self_->send(b, remove_atom::value, std::string{"r"}, std::string{"alice"}, std::uint64_t{1});
  std::set<std::uint64_t> loops_told;
  bool cluster_told = false;
  for (int i = 0; i < 3; ++i)
    self_->receive(
        [&](std::uint64_t index, const std::string& room, const std::string& user) {
          EXPECT_EQ(room, "r");
          EXPECT_EQ(user, "alice");
          loops_told.insert(index);
        },
        [&](remove_atom, const std::string& room, const std::string& user) {
          EXPECT_EQ(room, "r");
          EXPECT_EQ(user, "alice");
          cluster_told = true;
        });
  EXPECT_EQ(loops_told, (std::set<std::uint64_t>{0, 2})); // loop 1 closed its own sessions already
  EXPECT_TRUE(cluster_told);

  // From a peer: every loop, and never back to the cluster.
  self_->send(b, remove_atom::value, std::string{"r"}, std::string{"bob"}, remote_origin);
  loops_told.clear();
  for (int i = 0; i < 3; ++i)
    self_->receive([&](std::uint64_t index, const std::string&, const std::string& user) {
      EXPECT_EQ(user, "bob");
      loops_told.insert(index);
    });
  EXPECT_EQ(loops_told, (std::set<std::uint64_t>{0, 1, 2}));
  self_->receive([](remove_atom, const std::string&, const std::string&) { FAIL() << "sent back to the cluster"; },
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
