// One order per room across nodes, history and resume on any node (README
// "Order, history and resume"), with three real chatd processes and real
// chatd.v1 clients.
#include "cluster_fixture.hpp"
#include "metrics_scrape.hpp"
#include "v1_helpers.hpp"
#include "wait_until.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <csignal>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace chatd::itest {
namespace {

using json = nlohmann::json;

class ClusterOrder : public cluster_fixture {
protected:
  void start_all_with(const std::vector<std::string>& extra) {
    for (std::size_t i = 0; i < nodes_.size(); ++i)
      start(i, extra);
    wait_for_mesh();
  }
  unsigned short port(std::size_t node) { return nodes_[node]->port(); }
  std::unique_ptr<ws_client> member(std::size_t node, const std::string& target) {
    return v1_client(port(node), target);
  }
  // One member of `target` on each node (in node order), each counted by its node.
  std::vector<std::unique_ptr<ws_client>> one_member_each(const std::string& target) {
    std::vector<std::unique_ptr<ws_client>> clients;
    for (std::size_t node = 0; node < nodes_.size(); ++node) {
      clients.push_back(member(node, target));
      wait_for_clients(node, 1);
    }
    return clients;
  }
  // The first member publishes the room's first message; every member reads
  // it. Its epoch.
  std::string first_message(std::vector<std::unique_ptr<ws_client>>& clients) {
    clients[0]->send_text(publish(1));
    std::string epoch;
    for (auto& c : clients)
      epoch = next(*c)["epoch"];
    return epoch;
  }
  // The node that orders a room keeps its history: the one whose
  // chat_history_messages is `messages` while the others keep none.
  std::size_t orderer(double messages) {
    std::size_t found = nodes_.size();
    EXPECT_TRUE(wait_until(
        [&] {
          found = nodes_.size();
          for (std::size_t i = 0; i < nodes_.size(); ++i) {
            if (!nodes_[i])
              continue;
            auto kept = metric_value(http_get(port(i), "/metrics").body, "chat_history_messages").value_or(-1);
            if (kept == messages)
              found = i;
            else if (kept != 0)
              return false;
          }
          return found != nodes_.size();
        },
        10s))
        << counters();
    return found;
  }
};

// Four members on every node publish at once into one room: every member on
// every node reads every message with the offsets 1..N of one epoch, all in
// one order.
TEST_F(ClusterOrder, ManyInterleavedPublishersOnEveryNodeGiveEveryMemberOneOrder) {
  start_all();
  constexpr int per_node = 4, each = 100, total = 3 * per_node * each;
  std::vector<std::unique_ptr<ws_client>> clients;
  for (std::size_t node = 0; node < 3; ++node) {
    for (int k = 0; k < per_node; ++k)
      clients.push_back(member(node, "/rooms/order"));
    wait_for_clients(node, per_node);
  }
  {
    std::vector<std::jthread> writers;
    for (std::size_t i = 0; i < clients.size(); ++i)
      writers.emplace_back([&, i] {
        for (int n = 0; n < each; ++n)
          clients[i]->send_text(publish(static_cast<int>(i) * 1000 + n));
      });
  }
  std::vector<json> first;
  std::string epoch;
  for (std::size_t i = 0; i < clients.size(); ++i) {
    std::vector<json> seen;
    for (int n = 1; n <= total; ++n) {
      auto m = next(*clients[i]);
      ASSERT_EQ(m["type"], "message");
      ASSERT_EQ(m["offset"], n) << "client " << i << " of n" << i / per_node + 1;
      if (epoch.empty())
        epoch = m["epoch"];
      ASSERT_EQ(m["epoch"], epoch) << "client " << i;
      seen.push_back(m["data"]);
    }
    if (i == 0)
      first = seen;
    else
      EXPECT_EQ(seen, first) << "client " << i << " of n" << i / per_node + 1 << " saw another order";
  }
  // One node ordered the room; the others sent it their clients' messages.
  auto at = orderer(100); // --history-size
  double sent = 0;
  for (std::size_t i = 0; i < 3; ++i)
    if (i != at)
      sent += metric_value(http_get(port(i), "/metrics").body,
                           "chat_cluster_order_sent_total{peer=\"n" + std::to_string(at + 1) + "\"}")
                  .value_or(0);
  EXPECT_EQ(sent, 2 * per_node * each);
}

// A client that leaves one node and comes back on another with ?since= gets
// what it missed, then live messages: once on each of the other nodes (at
// least one of them does not order the room, so its history comes over the cluster).
TEST_F(ClusterOrder, AClientResumesOnAnotherNodeWithEverythingItMissed) {
  start_all();
  auto publisher = member(2, "/rooms/r");
  auto reader = member(0, "/rooms/r");
  wait_for_clients(2, 1);
  wait_for_clients(0, 1);
  publisher->send_text(publish(1));
  ASSERT_EQ(next(*publisher)["offset"], 1);
  auto seen = next(*reader);
  const std::string epoch = seen["epoch"];
  ASSERT_EQ(seen["offset"], 1);
  int last = 1;
  for (std::size_t node : {1u, 2u}) {
    reader.reset();
    for (int n = last + 1; n <= last + 5; ++n)
      publisher->send_text(publish(n));
    for (int n = last + 1; n <= last + 5; ++n)
      ASSERT_EQ(next(*publisher)["offset"], n);
    reader = member(node, "/rooms/r?since=" + epoch + ":" + std::to_string(last));
    EXPECT_EQ(next(*reader), json({{"type", "resumed"}, {"recovered", true}, {"epoch", epoch}, {"offset", last + 5}}))
        << "on n" << node + 1;
    for (int n = last + 1; n <= last + 5; ++n) {
      auto m = next(*reader);
      EXPECT_EQ(m["offset"], n) << "on n" << node + 1;
      EXPECT_EQ(m["data"], n);
    }
    last += 5;
    publisher->send_text(publish(++last));
    EXPECT_EQ(next(*reader)["offset"], last) << "on n" << node + 1;
    EXPECT_EQ(next(*publisher)["offset"], last);
  }
  double resumed = 0;
  for (std::size_t i = 1; i < 3; ++i)
    resumed += metric_value(http_get(port(i), "/metrics").body, "chat_resumes_total{recovered=\"true\"}").value_or(0);
  EXPECT_EQ(resumed, 2);
}

TEST_F(ClusterOrder, AResumeFromOutOfHistoryOnAnyNodeIsNotRecoveredAndGetsTheRecentHistory) {
  start_all_with({"--history-size", "3"});
  auto publisher = member(0, "/rooms/r");
  wait_for_clients(0, 1);
  for (int n = 1; n <= 8; ++n)
    publisher->send_text(publish(n));
  std::string epoch;
  for (int n = 1; n <= 8; ++n)
    epoch = next(*publisher)["epoch"];
  for (std::size_t node = 0; node < 3; ++node) {
    auto old = member(node, "/rooms/r?since=" + epoch + ":2");
    EXPECT_EQ(next(*old), json({{"type", "resumed"}, {"recovered", false}, {"epoch", epoch}, {"offset", 8}}))
        << "on n" << node + 1;
    for (int n = 6; n <= 8; ++n)
      EXPECT_EQ(next(*old)["offset"], n) << "on n" << node + 1;
  }
}

TEST_F(ClusterOrder, AFirstConnectWithHistoryOnAnyNodeGetsTheLastMessages) {
  start_all();
  auto publisher = member(1, "/rooms/r");
  wait_for_clients(1, 1);
  for (int n = 1; n <= 5; ++n)
    publisher->send_text(publish(n));
  for (int n = 1; n <= 5; ++n)
    next(*publisher);
  std::vector<std::unique_ptr<ws_client>> joiners;
  for (std::size_t node = 0; node < 3; ++node) {
    joiners.push_back(member(node, "/rooms/r?history=2"));
    EXPECT_EQ(next(*joiners.back())["data"], 4) << "on n" << node + 1;
    EXPECT_EQ(next(*joiners.back())["data"], 5) << "on n" << node + 1;
  }
  publisher->send_text(publish(6));
  for (auto& j : joiners)
    EXPECT_EQ(next(*j)["offset"], 6);
}

// The node that orders a room is killed: the survivors order it under a new
// epoch, so a resume from the old one is not recovered; every member of the
// survivors keeps getting one order.
TEST_F(ClusterOrder, WhenTheOrderingNodeDiesTheRoomGoesOnUnderANewEpoch) {
  start_all();
  auto clients = one_member_each("/rooms/failover");
  const auto epoch = first_message(clients);
  auto dead = orderer(1);
  ASSERT_LT(dead, 3u);
  nodes_[dead]->send_signal(SIGKILL);
  nodes_[dead]->wait_exit(5s);
  nodes_[dead].reset();
  std::vector<std::size_t> alive;
  for (std::size_t i = 0; i < 3; ++i)
    if (i != dead) {
      alive.push_back(i);
      ASSERT_EQ(wait_for_metric(port(i), "chat_cluster_peers", 1, 15s), 1);
    }
  // The survivors agree on the new ordering node once each has seen the death.
  clients[alive[0]]->send_text(publish(2));
  clients[alive[1]]->send_text(publish(3));
  std::vector<json> first;
  for (auto i : alive) {
    std::vector<json> seen;
    std::string now;
    for (int n = 1; n <= 2; ++n) {
      auto m = next(*clients[i]);
      EXPECT_NE(m["epoch"], epoch);
      EXPECT_EQ(m["offset"], n);
      now = m["epoch"];
      seen.push_back(m["data"]);
    }
    if (first.empty())
      first = seen;
    else
      EXPECT_EQ(seen, first);
    auto back = member(i, "/rooms/failover?since=" + epoch + ":1");
    auto resumed = next(*back);
    EXPECT_EQ(resumed["recovered"], false);
    EXPECT_EQ(resumed["epoch"], now);
  }
}

// A node that does not order the room is killed and restarted; its client
// resumes on it at once, before it has linked to the others: the resume
// waits until the node is ready, then the ordering node answers it.
TEST_F(ClusterOrder, AClientResumesOnItsRestartedNode) {
  start_all();
  auto probe = member(0, "/rooms/restart");
  wait_for_clients(0, 1);
  probe->send_text(publish(1));
  const std::string epoch = next(*probe)["epoch"];
  const auto owner = orderer(1);
  ASSERT_LT(owner, 3u);
  const std::size_t victim = (owner + 1) % 3, publisher_node = (owner + 2) % 3;
  auto publisher = member(publisher_node, "/rooms/restart");
  auto reader = member(victim, "/rooms/restart");
  wait_for_clients(victim, 1);
  probe->send_text(publish(2));
  EXPECT_EQ(next(*probe)["offset"], 2);
  EXPECT_EQ(next(*reader)["offset"], 2);
  EXPECT_EQ(next(*publisher)["offset"], 2);

  nodes_[victim]->send_signal(SIGKILL);
  nodes_[victim]->wait_exit(5s);
  nodes_[victim].reset();
  reader.reset();
  for (int n = 3; n <= 5; ++n)
    publisher->send_text(publish(n));
  for (int n = 3; n <= 5; ++n)
    ASSERT_EQ(next(*publisher)["offset"], n);

  start(victim);
  auto back = member(victim, "/rooms/restart?since=" + epoch + ":2");
  EXPECT_EQ(next(*back), json({{"type", "resumed"}, {"recovered", true}, {"epoch", epoch}, {"offset", 5}}));
  for (int n = 3; n <= 5; ++n)
    EXPECT_EQ(next(*back)["offset"], n);
  publisher->send_text(publish(6));
  auto live = next(*back);
  EXPECT_EQ(live["offset"], 6);
  EXPECT_EQ(live["epoch"], epoch);
}

// The sanitizer runs give links 20 s instead of 5 s (scripts/test.sh).
std::chrono::seconds cluster_timeout() {
  const char* set = std::getenv("CHATD_CLUSTER_TIMEOUT");
  return std::chrono::seconds(set ? std::atoi(set) : 5);
}

// The ordering node is paused past the cluster timeout: the others order
// the room under a new epoch meanwhile. When it wakes it must not go on
// with its old epoch, whose members missed what the others ordered: it
// finds itself without a majority of the nodes it knows, drops its logs,
// and once linked again orders the room under a new epoch, for everyone.
TEST_F(ClusterOrder, AnOrderingNodePausedPastTheTimeoutComesBackUnderANewEpoch) {
  start_all();
  auto clients = one_member_each("/rooms/paused");
  const auto first = first_message(clients);
  const auto owner = orderer(1);
  ASSERT_LT(owner, 3u);
  const std::size_t a = (owner + 1) % 3, b = (owner + 2) % 3;
  const auto from = nodes_[owner]->log_text().size();

  nodes_[owner]->send_signal(SIGSTOP);
  for (auto i : {a, b})
    ASSERT_EQ(wait_for_metric(port(i), "chat_cluster_peers", 1, cluster_timeout() + 15s), 1) << counters();
  clients[a]->send_text(publish(2));
  std::string meanwhile;
  for (auto i : {a, b}) {
    auto m = next(*clients[i]);
    EXPECT_EQ(m["data"], 2);
    EXPECT_NE(m["epoch"], first);
    meanwhile = m["epoch"];
  }

  nodes_[owner]->send_signal(SIGCONT);
  // It sees both links gone, then every node links again.
  ASSERT_TRUE(wait_until(
      [&] {
        auto log = nodes_[owner]->log_text().substr(from);
        std::size_t lost = 0;
        for (auto at = log.find("lost peer"); at != std::string::npos; at = log.find("lost peer", at + 1))
          ++lost;
        return lost >= 2;
      },
      cluster_timeout() + 15s))
      << nodes_[owner]->log_text();
  for (std::size_t i = 0; i < 3; ++i)
    ASSERT_EQ(wait_for_metric(port(i), "chat_cluster_peers", 2, 30s), 2) << counters();
  clients[a]->send_text(publish(3));
  std::string last;
  for (std::size_t i = 0; i < 3; ++i) {
    auto m = next(*clients[i]);
    EXPECT_EQ(m["data"], 3) << "on n" << i + 1;
    EXPECT_NE(m["epoch"], first) << "on n" << i + 1 << ": the old epoch went on over what it missed";
    EXPECT_NE(m["epoch"], meanwhile) << "on n" << i + 1;
    EXPECT_EQ(m["offset"], 1) << "on n" << i + 1;
    if (i > 0)
      EXPECT_EQ(m["epoch"], last) << "on n" << i + 1;
    last = m["epoch"];
  }
}

// A node that does not order the room is paused past the cluster timeout
// while the others go on; its member stays connected. Once linked again, the
// next message reaches it after a gap: its node asks the ordering node for
// what it missed (a repair), and the member gets `resumed`, the missing
// messages, then live ones, all of one epoch.
TEST_F(ClusterOrder, AMemberOfANodePausedPastTheTimeoutGetsWhatItMissedInPlace) {
  start_all();
  auto clients = one_member_each("/rooms/gap");
  const auto epoch = first_message(clients);
  const auto owner = orderer(1);
  ASSERT_LT(owner, 3u);
  const std::size_t victim = (owner + 1) % 3, other = (owner + 2) % 3;

  nodes_[victim]->send_signal(SIGSTOP);
  for (auto i : {owner, other})
    ASSERT_EQ(wait_for_metric(port(i), "chat_cluster_peers", 1, cluster_timeout() + 15s), 1) << counters();
  for (int n = 2; n <= 4; ++n)
    clients[other]->send_text(publish(n));
  for (auto i : {owner, other})
    for (int n = 2; n <= 4; ++n) {
      auto m = next(*clients[i]);
      ASSERT_EQ(m["offset"], n) << "on n" << i + 1;
      ASSERT_EQ(m["epoch"], epoch) << "on n" << i + 1 << ": a majority keeps its epoch";
    }

  nodes_[victim]->send_signal(SIGCONT);
  for (std::size_t i = 0; i < 3; ++i)
    ASSERT_EQ(wait_for_metric(port(i), "chat_cluster_peers", 2, cluster_timeout() + 30s), 2) << counters();
  clients[other]->send_text(publish(5));
  EXPECT_EQ(next(*clients[victim]), json({{"type", "resumed"}, {"recovered", true}, {"epoch", epoch}, {"offset", 5}}));
  for (int n = 2; n <= 5; ++n) {
    auto m = next(*clients[victim]);
    EXPECT_EQ(m["offset"], n);
    EXPECT_EQ(m["data"], n);
    EXPECT_EQ(m["epoch"], epoch);
  }
  clients[other]->send_text(publish(6));
  auto live = next(*clients[victim]);
  EXPECT_EQ(live["offset"], 6);
  EXPECT_EQ(live["epoch"], epoch);
  EXPECT_EQ(
      metric_value(http_get(port(victim), "/metrics").body, "chat_repairs_total{recovered=\"true\"}").value_or(-1), 1);
  EXPECT_EQ(
      metric_value(http_get(port(victim), "/metrics").body, "chat_resumes_total{recovered=\"true\"}").value_or(-1), 0);
}

TEST_F(ClusterOrder, WithClusterOrderOffMessagesCarryNoOffsetAndResumesAreNotRecovered) {
  start_all_with({"--cluster-order", "off"});
  auto a = member(0, "/rooms/r");
  auto b = member(1, "/rooms/r");
  wait_for_clients(0, 1);
  wait_for_clients(1, 1);
  a->send_text(publish(1));
  auto m = next(*b);
  EXPECT_EQ(m["data"], 1);
  EXPECT_FALSE(m.contains("offset"));
  EXPECT_EQ(next(*a)["data"], 1);
  auto c = member(2, "/rooms/r?since=x-0-1:1");
  EXPECT_EQ(next(*c)["recovered"], false);
}

} // namespace
} // namespace chatd::itest
