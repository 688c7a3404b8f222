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
                         caf::actor{broadcaster_}, caf::io::middleman_actor{}, &metrics_);
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
};

TEST_F(cluster_test, a_peer_with_another_protocol_version_is_refused) {
  auto cluster = spawn_cluster();
  caf::scoped_actor stranger{system_};
  EXPECT_EQ(hello(stranger, cluster, cluster_protocol_version + 1, "future-node"), cluster_protocol_version);
  EXPECT_EQ(metrics_.cluster_peers.Value(), 0);
  // Nothing it sends is delivered.
  stranger->send(cluster, forward_atom::value, cluster_frame{"r", "injected", false});
  broadcaster_->receive([](publish_atom, const frame_ptr&, std::uint64_t) { FAIL() << "delivered"; },
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

  auto local = std::make_shared<frame>();
  local->room = "r";
  local->bytes = "from here";
  broadcaster_->send(cluster, publish_atom::value, frame_ptr{local});
  peer->receive([](forward_atom, const cluster_frame& f) {
    EXPECT_EQ(f.room, "r");
    EXPECT_EQ(f.bytes, "from here");
  });
  EXPECT_EQ(metrics_.cluster_messages_sent.Value(), 1);

  peer->send(cluster, forward_atom::value, cluster_frame{"r", "from n2", true});
  broadcaster_->receive([](publish_atom, const frame_ptr& f, std::uint64_t origin) {
    EXPECT_EQ(f->bytes, "from n2");
    EXPECT_TRUE(f->binary);
    EXPECT_EQ(origin, remote_origin); // so the broadcaster does not send it back out
  });
  EXPECT_EQ(metrics_.cluster_messages_received.Value(), 1);
  peer->send_exit(cluster, caf::exit_reason::user_shutdown);
}

TEST_F(cluster_test, census_sums_the_latest_count_of_every_peer) {
  auto cluster = spawn_cluster();
  caf::scoped_actor peer{system_};
  hello(peer, cluster, cluster_protocol_version, "n2");
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
  auto publish = [&] {
    auto f = std::make_shared<frame>();
    f->room = "r";
    f->bytes = "m";
    broadcaster_->send(cluster, publish_atom::value, frame_ptr{f});
  };
  // Returns once the cluster actor has handled everything the broadcaster sent it before.
  auto sync = [&] {
    broadcaster_->request(cluster, 5s, count_atom::value, std::uint64_t{0})
        .receive([](std::uint64_t, std::uint64_t) {}, [](caf::error&) { FAIL() << "no answer"; });
  };
  // Two messages before n2 is first seen (a restarted node's first ones, say).
  publish();
  publish();
  {
    caf::scoped_actor peer{system_};
    hello(peer, cluster, cluster_protocol_version, "n2"); // after the publishes: one mailbox, in order
    EXPECT_EQ(metrics_.cluster_peer_down_drops("n2").Value(), 2);
    publish();
    peer->receive([](forward_atom, const cluster_frame&) {});
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

} // namespace
