// Three real chatd processes on loopback forming a full mesh over CAF remoting.
#include "chatd_process.hpp"
#include "cluster_checks.hpp"
#include "cluster_fixture.hpp"
#include "free_port.hpp"
#include "http_probe.hpp"
#include "metrics_scrape.hpp"
#include "wait_until.hpp"
#include "ws_client.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <csignal>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace chatd::itest {
namespace {

using namespace std::chrono_literals;

class Cluster : public cluster_fixture {};

TEST_F(Cluster, AMessageReachesEveryNodeExactlyOnce) {
  start_all();
  std::vector<std::unique_ptr<ws_client>> clients;
  for (std::size_t i = 0; i < 3; ++i) {
    clients.push_back(client(i));
    wait_for_clients(i, 1);
  }
  clients[0]->send_text("from n1");
  clients[2]->send_binary("from n3");
  // A sentinel after them: a duplicate would be read in its place.
  clients[0]->send_text("sentinel");
  for (auto& c : clients) {
    std::vector<ws_message> got;
    for (int i = 0; i < 3; ++i)
      got.push_back(c->read());
    // Per-sender order holds; the two senders may interleave.
    auto n1 = std::find(got.begin(), got.end(), text_message("from n1"));
    auto sentinel = std::find(got.begin(), got.end(), text_message("sentinel"));
    EXPECT_NE(n1, got.end());
    EXPECT_NE(std::find(got.begin(), got.end(), binary_message("from n3")), got.end());
    EXPECT_LT(n1, sentinel);
  }
  for (std::size_t i = 0; i < 3; ++i)
    EXPECT_EQ(wait_for_metric(nodes_[i]->port(), "chat_messages_delivered_total", 3), 3);
  // The node that orders the room sent each message once to each other node.
  const auto sum = [&](const std::string& name) {
    double total = 0;
    for (auto& node : nodes_)
      total += metric_value(http_get(node->port(), "/metrics").body, name).value_or(0);
    return total;
  };
  EXPECT_EQ(sum("chat_cluster_messages_sent_total"), 6);
  EXPECT_EQ(sum("chat_cluster_messages_received_total"), 6);
}

TEST_F(Cluster, RoomsStayIsolatedAcrossNodes) {
  start_all();
  auto a1 = client(0, "/rooms/a");
  auto b2 = client(1, "/rooms/b");
  auto a3 = client(2, "/rooms/a");
  wait_for_clients(0, 1);
  wait_for_clients(1, 1);
  wait_for_clients(2, 1);
  a1->send_text("for a");
  b2->send_text("for b");
  EXPECT_EQ(a3->read(), text_message("for a"));
  EXPECT_EQ(a1->read(), text_message("for a"));
  EXPECT_EQ(b2->read(), text_message("for b"));
  a3->send_text("a again");
  b2->send_text("b again");
  // Had "for a" leaked into room b, it would be read here.
  EXPECT_EQ(b2->read(), text_message("b again"));
  EXPECT_EQ(a1->read(), text_message("a again"));
}

// Interest routing: a node gets a room's messages only while it has members
// of the room; a new member there gets the very next message.
TEST_F(Cluster, ANodeWithoutMembersOfARoomGetsNoneOfItsMessages) {
  start_all();
  auto a1 = client(0, "/rooms/a");
  auto a2 = client(1, "/rooms/a");
  auto b3 = client(2, "/rooms/b"); // n3 has members, but not of room a
  for (std::size_t i = 0; i < 3; ++i)
    wait_for_clients(i, 1);
  const std::string to_n2 = "chat_cluster_link_messages_sent_total{peer=\"n2\"}";
  const std::string to_n3 = "chat_cluster_link_messages_sent_total{peer=\"n3\"}";
  for (int i = 0; i < 20; ++i)
    a1->send_text("a" + std::to_string(i));
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(a1->read(), text_message("a" + std::to_string(i)));
    EXPECT_EQ(a2->read(), text_message("a" + std::to_string(i)));
  }
  EXPECT_EQ(wait_for_metric(nodes_[0]->port(), to_n2, 20), 20);
  EXPECT_EQ(wait_for_metric(nodes_[0]->port(), to_n3, 0), 0);
  EXPECT_EQ(wait_for_metric(nodes_[2]->port(), "chat_cluster_messages_received_total", 0), 0);
  // Not sending to a node without members is no drop either.
  EXPECT_EQ(wait_for_metric(nodes_[0]->port(), "chat_cluster_messages_dropped_total", 0), 0);

  // A member of a joins on n3: the next message of a reaches it, however
  // soon after its handshake it is sent.
  auto a3 = client(2, "/rooms/a");
  a1->send_text("now n3 too");
  EXPECT_EQ(a3->read(), text_message("now n3 too"));
  EXPECT_EQ(a1->read(), text_message("now n3 too"));
  EXPECT_EQ(a2->read(), text_message("now n3 too"));
  EXPECT_EQ(wait_for_metric(nodes_[0]->port(), to_n3, 1), 1);
  // Its last member of a leaves: no more of a's messages go there.
  a3->close();
  ASSERT_EQ(wait_for_metric(nodes_[2]->port(), "chat_connections", 1), 1.0);
  // n1 hears of it within a round trip: once a probe is no longer sent to n3, none after it is.
  const auto sent_to_n3 = [&] { return metric_value(http_get(nodes_[0]->port(), "/metrics").body, to_n3); };
  const auto probe = [&] {
    a1->send_text("probe");
    EXPECT_EQ(a1->read(), text_message("probe"));
    EXPECT_EQ(a2->read(), text_message("probe")); // n1 has routed it by the time n2 delivers it
  };
  ASSERT_TRUE(wait_until(
      [&] {
        probe();
        const auto before = sent_to_n3();
        probe();
        return sent_to_n3() == before;
      },
      20s, 100ms));
  const auto settled = sent_to_n3();
  a1->send_text("after n3 left");
  EXPECT_EQ(a1->read(), text_message("after n3 left"));
  EXPECT_EQ(a2->read(), text_message("after n3 left"));
  EXPECT_EQ(wait_for_metric(nodes_[0]->port(), to_n3, settled.value_or(-1), 1s), settled);
  b3->send_text("b still works");
  EXPECT_EQ(b3->read(), text_message("b still works"));
}

// Every node's first member of a room joins at the same moment, and each
// sends at once: every member gets every message.
TEST_F(Cluster, FirstMembersOnEveryNodeGetEachOthersFirstMessages) {
  start_all();
  for (int round = 0; round < 5; ++round) {
    const std::string room = "/rooms/fresh" + std::to_string(round);
    std::vector<std::unique_ptr<ws_client>> clients;
    for (std::size_t i = 0; i < 3; ++i)
      clients.push_back(client(i, room));
    expect_everyone_gets_every_hello(clients, ", " + room);
  }
}

TEST_F(Cluster, AThousandMessagesKeepTheirOrderOnEveryNode) {
  start_all();
  std::vector<std::unique_ptr<ws_client>> clients;
  for (std::size_t i = 0; i < 3; ++i) {
    clients.push_back(client(i, "/rooms/order"));
    wait_for_clients(i, 1);
  }
  constexpr int count = 1000;
  for (int i = 0; i < count; ++i)
    clients[1]->send_text("seq " + std::to_string(i));
  for (std::size_t c = 0; c < clients.size(); ++c)
    for (int i = 0; i < count; ++i) {
      std::optional<ws_message> got;
      try {
        got = clients[c]->read();
      } catch (const std::exception& e) {
        // Where the messages went, and whether they were still moving: a
        // stalled node and a lost message look alike from the client.
        auto first = counters();
        std::this_thread::sleep_for(5s);
        ADD_FAILURE() << "client of n" << c + 1 << ", message " << i << ": " << e.what() << "\n"
                      << first << "5 s later:\n"
                      << counters();
        return;
      }
      ASSERT_EQ(*got, text_message("seq " + std::to_string(i))) << "client of n" << c + 1;
    }
}

TEST_F(Cluster, ALostNodeIsNoticedAndRejoinsWhenItComesBack) {
  start_all();
  auto c1 = client(0);
  auto c3 = client(2);
  wait_for_clients(0, 1);
  wait_for_clients(2, 1);

  nodes_[1]->send_signal(SIGKILL);
  nodes_[1]->wait_exit(5s);
  EXPECT_EQ(wait_for_metric(nodes_[0]->port(), "chat_cluster_peers", 1, 15s), 1);
  EXPECT_EQ(wait_for_metric(nodes_[2]->port(), "chat_cluster_peers", 1, 15s), 1);
  // The survivors keep exchanging messages.
  c1->send_text("while n2 is down");
  EXPECT_EQ(c3->read(), text_message("while n2 is down"));
  EXPECT_EQ(c1->read(), text_message("while n2 is down"));

  nodes_[1].reset();
  start(1); // same cluster port, nothing else restarted
  wait_for_mesh();
  auto c2 = client(1);
  wait_for_clients(1, 1);
  c1->send_text("n2 is back");
  EXPECT_EQ(c2->read(), text_message("n2 is back"));
  EXPECT_EQ(c3->read(), text_message("n2 is back"));
  c2->send_text("hello from n2");
  EXPECT_EQ(c1->read().data, "n2 is back");
  EXPECT_EQ(c1->read(), text_message("hello from n2"));
}

TEST_F(Cluster, NodesStartedInReverseOrderStillFormTheMesh) {
  start(2);
  // Node 3 is alone and keeps dialling the others.
  ASSERT_TRUE(wait_until([&] { return nodes_[2]->log_text().find("connected-count=0") != std::string::npos; }, 10s));
  start(1);
  start(0);
  wait_for_mesh();
  auto c1 = client(0);
  auto c3 = client(2);
  wait_for_clients(0, 1);
  wait_for_clients(2, 1);
  c3->send_text("reverse");
  EXPECT_EQ(c1->read(), text_message("reverse"));
}

TEST_F(Cluster, TickerLogsTheClusterWideCount) {
  start_all();
  auto c1 = client(0);
  auto c2a = client(1);
  auto c2b = client(1);
  wait_for_clients(0, 1);
  wait_for_clients(1, 2);
  EXPECT_TRUE(nodes_[2]->wait_for_log("connected-count=0 cluster-count=3", 10s));
  EXPECT_TRUE(nodes_[1]->wait_for_log("connected-count=2 cluster-count=3", 10s));
}

// Start-up, as a new user does it: three nodes started together, and at once
// a client on each node sends one message. Messages published before a node
// is linked to the others are held for them: every client gets every
// message, whether it sent before the cluster was ready or right after.
TEST_F(Cluster, ClientsOfNodesStartedTogetherGetEveryMessageSentAtOnce) {
  for (int round = 0; round < 4; ++round) {
    const bool wait_for_ready = round % 2 == 1;
    for (auto& node : nodes_)
      node.reset();
    for (auto& p : cluster_ports_)
      p = free_port();
    for (std::size_t i = 0; i < nodes_.size(); ++i)
      start(i);
    if (wait_for_ready) {
      for (std::size_t i = 0; i < nodes_.size(); ++i)
        ASSERT_TRUE(wait_until([&] { return ready(i); }, 20s)) << "n" << i + 1 << " never ready";
    }
    std::vector<std::unique_ptr<ws_client>> clients;
    for (std::size_t i = 0; i < 3; ++i)
      clients.push_back(client(i, "/rooms/start"));
    expect_everyone_gets_every_hello(clients, wait_for_ready ? ", sent once ready" : ", sent at start");
    // Nothing counted as lost: what was held went out once the nodes linked.
    for (std::size_t i = 0; i < 3; ++i)
      EXPECT_EQ(
          metric_value(http_get(nodes_[i]->port(), "/metrics").body, "chat_cluster_messages_dropped_total").value_or(0),
          0)
          << "n" << i + 1;
  }
}

// /readyz: 503 "starting" while a seed is not linked (liveness says ok all
// along), 200 "ready" once every node of --peers is.
TEST_F(Cluster, ReadyzWaitsUntilEverySeedIsLinked) {
  start(0, {"--cluster-ready-grace", "60s"});
  auto starting = http_get(nodes_[0]->port(), "/readyz");
  EXPECT_EQ(starting.status, 503u);
  EXPECT_EQ(starting.body, "starting\n");
  EXPECT_EQ(http_get(nodes_[0]->port(), "/healthz").status, 200u);
  start(1, {"--cluster-ready-grace", "60s"});
  // Two of three: still starting.
  ASSERT_EQ(wait_for_metric(nodes_[0]->port(), "chat_cluster_peers", 1, 20s), 1.0);
  EXPECT_EQ(http_get(nodes_[0]->port(), "/readyz").status, 503u);
  start(2, {"--cluster-ready-grace", "60s"});
  for (std::size_t i = 0; i < 3; ++i)
    EXPECT_TRUE(wait_until([&] { return ready(i); }, 20s, 50ms)) << "n" << i + 1;
  auto answer = http_get(nodes_[0]->port(), "/readyz");
  EXPECT_EQ(answer.status, 200u);
  EXPECT_EQ(answer.body, "ready\n");
  EXPECT_TRUE(nodes_[0]->wait_for_log("cluster: ready: every seed linked or this node (2 peers)", 1s));
  const auto metrics = http_get(nodes_[0]->port(), "/metrics").body;
  EXPECT_GE(metric_value(metrics, "chat_http_responses_total{code=\"503\"}").value_or(0), 2);
  EXPECT_EQ(metric_value(metrics, "chat_cluster_ready"), 1.0);
}

// A node whose seeds never answer must still come up: ready once the grace
// period is over.
TEST_F(Cluster, ALoneNodeWithUnreachableSeedsIsReadyAfterTheGrace) {
  start(0, {"--cluster-ready-grace", "2s"});
  EXPECT_TRUE(wait_until([&] { return ready(0); }, 20s, 50ms));
  EXPECT_TRUE(nodes_[0]->wait_for_log("ready after the 2000 ms start-up grace period", 1s)) << nodes_[0]->log_text();
  // It serves its own clients.
  auto c = client(0, "/rooms/alone");
  c->send_text("anyone?");
  EXPECT_EQ(c->read(), text_message("anyone?"));
}

} // namespace
} // namespace chatd::itest
