#include "actors/cluster.hpp"
#include "proto/cluster_messages.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <gtest/gtest.h>

#include <thread>

using namespace chatd;
using namespace std::chrono_literals;

namespace {

// The cluster actor's greeting and forwarding rules, with scoped actors
// standing in for peers (no network: the rules do not depend on it).
class cluster_test : public ::testing::Test {
protected:
  cluster_test() { add_cluster_message_types(config_); }

  caf::actor spawn_cluster() {
    return system_.spawn(actors::cluster, std::string{"self-node"}, std::vector<peer_address>{},
                         caf::actor{broadcaster_}, caf::io::middleman_actor{}, &metrics_, &directory_);
  }

  // Answers the room-list request a greeted peer gets, as a node with members of `rooms`.
  static void tell_rooms(caf::scoped_actor& peer, std::vector<std::string> rooms) {
    peer->receive([&](get_rooms_atom) { return caf::make_message(rooms_atom::value, room_list{rooms}); });
  }

  // Returns once the cluster actor has handled everything `from` sent it before.
  static void sync(caf::scoped_actor& from, const caf::actor& cluster) {
    from->request(cluster, 5s, count_atom::value, std::uint64_t{0})
        .receive([](std::uint64_t, std::uint64_t) {}, [](caf::error&) { FAIL() << "no answer"; });
  }

  static frame_ptr message(std::string room, std::string text) {
    return make_message_frame(std::move(room), text, false, std::chrono::steady_clock::now());
  }

  // Says hello as node `id` with `version`; returns the version the cluster answered with.
  std::uint32_t hello(caf::scoped_actor& peer, const caf::actor& cluster, std::uint32_t version, std::string id) {
    std::uint32_t answered = 0;
    peer->request(cluster, 5s, hello_atom::value, version, std::move(id))
        .receive(
            [&](std::uint32_t v, const std::string& node) {
              answered = v;
              EXPECT_EQ(node, "self-node");
            },
            [](caf::error&) { FAIL() << "no answer to hello"; });
    return answered;
  }

  caf::actor_system_config config_;
  caf::actor_system system_{config_};
  caf::scoped_actor broadcaster_{system_};
  chat_metrics metrics_;
  net::room_directory directory_{true};
};

TEST_F(cluster_test, a_peer_with_another_protocol_version_is_refused) {
  auto cluster = spawn_cluster();
  caf::scoped_actor stranger{system_};
  EXPECT_EQ(hello(stranger, cluster, cluster_protocol_version + 1, "future-node"), cluster_protocol_version);
  EXPECT_EQ(metrics_.cluster_peers.Value(), 0);
  // Nothing it sends is delivered.
  stranger->send(cluster, forward_atom::value, cluster_batch{{"r", "injected", false}});
  broadcaster_->receive([](publish_atom, const frame_batch&, std::uint64_t) { FAIL() << "delivered"; },
                        caf::after(200ms) >> [] {});
  stranger->send_exit(cluster, caf::exit_reason::user_shutdown);
}

TEST_F(cluster_test, a_peer_with_our_own_node_id_is_refused) {
  auto cluster = spawn_cluster();
  caf::scoped_actor twin{system_};
  hello(twin, cluster, cluster_protocol_version, "self-node");
  EXPECT_EQ(metrics_.cluster_peers.Value(), 0);
  twin->send_exit(cluster, caf::exit_reason::user_shutdown);
}

TEST_F(cluster_test, a_greeted_peer_gets_local_messages_and_its_own_are_delivered_locally_only) {
  auto cluster = spawn_cluster();
  caf::scoped_actor peer{system_};
  EXPECT_EQ(hello(peer, cluster, cluster_protocol_version, "n2"), cluster_protocol_version);
  EXPECT_EQ(metrics_.cluster_peers.Value(), 1);
  // Until it has said which rooms it has, a peer's rooms are unknown: every
  // loop sends every message to the cluster actor.
  EXPECT_EQ(directory_.unknown_peers(), 1u);
  tell_rooms(peer, {"r"});
  sync(peer, cluster);
  EXPECT_EQ(directory_.unknown_peers(), 0u);
  EXPECT_EQ(directory_.get("r")->peers(), 1u);

  broadcaster_->send(cluster, publish_atom::value, frame_batch{message("r", "from here"), message("r", "and more")});
  peer->receive([](forward_atom, const cluster_batch& batch) {
    ASSERT_EQ(batch.size(), 2u);
    EXPECT_EQ(batch[0].room, "r");
    EXPECT_EQ(batch[0].bytes, "from here");
    EXPECT_EQ(batch[1].bytes, "and more");
  });
  EXPECT_EQ(metrics_.cluster_messages_sent.Value(), 2);

  peer->send(cluster, forward_atom::value, cluster_batch{{"r", "from n2", true}});
  broadcaster_->receive([](publish_atom, const frame_batch& batch, std::uint64_t origin) {
    ASSERT_EQ(batch.size(), 1u);
    EXPECT_EQ(batch[0]->payload(), "from n2");
    EXPECT_TRUE(batch[0]->binary);
    EXPECT_EQ(origin, remote_origin); // so the broadcaster does not send it back out
  });
  EXPECT_EQ(metrics_.cluster_messages_received.Value(), 1);
  peer->send_exit(cluster, caf::exit_reason::user_shutdown);
}

TEST_F(cluster_test, census_sums_the_latest_count_of_every_peer) {
  auto cluster = spawn_cluster();
  caf::scoped_actor peer{system_};
  hello(peer, cluster, cluster_protocol_version, "n2");
  tell_rooms(peer, {});
  peer->send(cluster, census_atom::value, std::string{"n2"}, std::uint64_t{5});
  std::uint64_t total = 0, peers = 0;
  broadcaster_->request(cluster, 5s, count_atom::value, std::uint64_t{2})
      .receive(
          [&](std::uint64_t t, std::uint64_t p) {
            total = t;
            peers = p;
          },
          [](caf::error&) { FAIL(); });
  EXPECT_EQ(total, 7u);
  EXPECT_EQ(peers, 1u);
  // ...and tells the peer this node's count.
  peer->receive([](census_atom, const std::string& id, std::uint64_t n) {
    EXPECT_EQ(id, "self-node");
    EXPECT_EQ(n, 2u);
  });
  peer->send_exit(cluster, caf::exit_reason::user_shutdown);
}

TEST_F(cluster_test, every_local_message_is_sent_to_a_node_or_counted_as_dropped_for_it) {
  auto cluster = spawn_cluster();
  auto publish = [&] { broadcaster_->send(cluster, publish_atom::value, frame_batch{message("r", "m")}); };
  auto sync = [&] { cluster_test::sync(broadcaster_, cluster); };
  // Two messages before n2 is first seen (a restarted node's first ones, say).
  publish();
  publish();
  {
    caf::scoped_actor peer{system_};
    hello(peer, cluster, cluster_protocol_version, "n2"); // after the publishes: one mailbox, in order
    EXPECT_EQ(metrics_.cluster_peer_down_drops("n2").Value(), 2);
    tell_rooms(peer, {"r"});
    publish();
    peer->receive([](forward_atom, const cluster_batch&) {});
    sync(); // the counter goes up just after the send
    EXPECT_EQ(metrics_.cluster_link_sent("n2").Value(), 1);
  } // n2 goes away
  for (int i = 0; i < 50 && metrics_.cluster_peers.Value() != 0; ++i)
    std::this_thread::sleep_for(10ms);
  ASSERT_EQ(metrics_.cluster_peers.Value(), 0);
  publish();
  sync();
  EXPECT_EQ(metrics_.cluster_peer_down_drops("n2").Value(), 3);
  EXPECT_EQ(metrics_.cluster_link_sent("n2").Value(), 1);
  // A node first seen now gets every message so far counted.
  caf::scoped_actor late{system_};
  hello(late, cluster, cluster_protocol_version, "n3");
  EXPECT_EQ(metrics_.cluster_peer_down_drops("n3").Value(), 4);
  late->send_exit(cluster, caf::exit_reason::user_shutdown);
}

TEST_F(cluster_test, a_peer_gets_only_messages_of_rooms_it_has_members_of) {
  auto cluster = spawn_cluster();
  caf::scoped_actor peer{system_};
  hello(peer, cluster, cluster_protocol_version, "n2");
  tell_rooms(peer, {"a"});
  sync(peer, cluster);
  broadcaster_->send(cluster, publish_atom::value, frame_batch{message("b", "not for n2"), message("a", "for n2")});
  peer->receive([](forward_atom, const cluster_batch& batch) {
    ASSERT_EQ(batch.size(), 1u);
    EXPECT_EQ(batch[0].bytes, "for n2");
  });
  sync(broadcaster_, cluster);
  // What was not sent is no drop: n2 has nobody who could miss it.
  EXPECT_EQ(metrics_.cluster_link_sent("n2").Value(), 1);
  EXPECT_EQ(metrics_.cluster_peer_down_drops("n2").Value(), 0);

  // n2's first member of "b": from then on it gets b's messages; its last
  // member of "a" left: no more of a's.
  peer->send(cluster, interest_atom::value, std::string{"b"});
  peer->receive([](ack_atom) {});
  peer->send(cluster, nointerest_atom::value, std::string{"a"});
  sync(peer, cluster);
  EXPECT_EQ(directory_.get("a")->peers(), 0u);
  broadcaster_->send(cluster, publish_atom::value, frame_batch{message("a", "gone"), message("b", "now yes")});
  peer->receive([](forward_atom, const cluster_batch& batch) {
    ASSERT_EQ(batch.size(), 1u);
    EXPECT_EQ(batch[0].bytes, "now yes");
  });
  peer->send_exit(cluster, caf::exit_reason::user_shutdown);
}

TEST_F(cluster_test, a_first_member_is_let_in_once_every_peer_knows_of_it) {
  auto cluster = spawn_cluster();
  caf::scoped_actor peer{system_};
  hello(peer, cluster, cluster_protocol_version, "n2");
  tell_rooms(peer, {});
  // A loop got the node's first member of "r": generation 1 of its presence.
  auto presence = directory_.get("r");
  auto state = presence->add_loop([](std::uint64_t) {});
  EXPECT_FALSE(state.announced);
  broadcaster_->send(cluster, node_room_atom::value, std::string{"r"}, true, state.generation);
  // The peer is asked first; only its answer lets the member in.
  broadcaster_->receive([](announced_atom, const std::string&, std::uint64_t) { FAIL() << "announced too early"; },
                        caf::after(100ms) >> [] {});
  peer->receive([](interest_atom, const std::string& room) {
    EXPECT_EQ(room, "r");
    return ack_atom::value;
  });
  broadcaster_->receive([&](announced_atom, const std::string& room, std::uint64_t generation) {
    EXPECT_EQ(room, "r");
    EXPECT_EQ(generation, state.generation);
  });
  EXPECT_TRUE(presence->add_loop([](std::uint64_t) {}).announced); // the next loop's member waits for nothing
  // A peer that linked later learns the room from the list.
  caf::scoped_actor late{system_};
  hello(late, cluster, cluster_protocol_version, "n3");
  late->request(cluster, 5s, get_rooms_atom::value)
      .receive([](rooms_atom, const room_list& list) { EXPECT_EQ(list.rooms, std::vector<std::string>{"r"}); },
               [](caf::error&) { FAIL(); });
  peer->send_exit(cluster, caf::exit_reason::user_shutdown);
}

} // namespace
