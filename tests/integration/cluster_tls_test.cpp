// Who may join a cluster: with --cluster-cert/--cluster-key/--cluster-ca only
// peers holding a certificate of the cluster's CA; without them the cluster
// port listens on loopback only. Certificates come from the deploy/ script.
#include "chatd_process.hpp"
#include "cluster_checks.hpp"
#include "free_port.hpp"
#include "http_probe.hpp"
#include "metrics_scrape.hpp"
#include "ws_client.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <gtest/gtest.h>

#include <unistd.h>

#include <array>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace chatd::itest {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

// Two CAs: the cluster's (nodes n1, n2, n3) and a stranger's (node n1 too, so
// only the CA tells them apart).
class ClusterTls : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("chatd-tls-test-" + std::to_string(::getpid()));
    for (const auto& [sub, nodes] : {std::pair{"cluster", "n1 n2 n3"}, std::pair{"stranger", "n1"}}) {
      const std::string cmd = std::string{CHATD_SOURCE_DIR} + "/deploy/make-cluster-certs.sh " + (dir_ / sub).string() +
                              " " + nodes + " >/dev/null";
      ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    }
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  static std::vector<std::string> credentials(const std::string& ca, const std::string& node) {
    return {"--cluster-cert", (dir_ / ca / (node + ".pem")).string(),
            "--cluster-key",  (dir_ / ca / (node + ".key")).string(),
            "--cluster-ca",   (dir_ / ca / "ca.pem").string()};
  }

  static std::unique_ptr<chatd_process> node(const std::string& id, unsigned short cluster_port,
                                             const std::string& peers, std::vector<std::string> extra) {
    std::vector<std::string> args{"--threads", "1", "--node-id", id, "--cluster-port", std::to_string(cluster_port)};
    if (!peers.empty())
      args.insert(args.end(), {"--peers", peers});
    args.insert(args.end(), extra.begin(), extra.end());
    return std::make_unique<chatd_process>(args);
  }

  static inline fs::path dir_;
};

TEST_F(ClusterTls, NodesWithCertificatesOfTheClusterCaFormAClusterAndChat) {
  const unsigned short p1 = free_port(), p2 = free_port();
  const std::string peers = "127.0.0.1:" + std::to_string(p1) + ",127.0.0.1:" + std::to_string(p2);
  auto n1 = node("n1", p1, peers, credentials("cluster", "n1"));
  auto n2 = node("n2", p2, peers, credentials("cluster", "n2"));
  for (auto* n : {n1.get(), n2.get()})
    ASSERT_EQ(wait_for_metric(n->port(), "chat_cluster_peers", 1, 20s), 1.0) << n->log_text();
  EXPECT_TRUE(n1->wait_for_log("cluster links: TLS", 1s)) << n1->log_text();

  ws_client a, b;
  a.connect(n1->port(), "/rooms/tls");
  b.connect(n2->port(), "/rooms/tls");
  ASSERT_EQ(wait_for_metric(n2->port(), "chat_connections", 1), 1.0);
  // The route to n2's member may still be on its way to n1: retry until it arrives.
  bool crossed = false;
  for (int attempt = 0; attempt < 20 && !crossed; ++attempt) {
    a.send_text("over tls " + std::to_string(attempt));
    EXPECT_EQ(a.read(), text_message("over tls " + std::to_string(attempt)));
    // On the link either way: n1 orders the room and sends n2 the message,
    // or n2 orders it and got it from n1 to order.
    crossed =
        wait_for_metric(n2->port(), "chat_cluster_messages_received_total", attempt + 1.0, 200ms).value_or(0) >= 1 ||
        metric_value(http_get(n2->port(), "/metrics").body, "chat_cluster_order_received_total{peer=\"n1\"}")
                .value_or(0) >= 1;
  }
  ASSERT_TRUE(crossed);
  EXPECT_EQ(b.read().data.rfind("over tls ", 0), 0u);
}

// Three TLS nodes started together (as docker compose does), and a client on
// each sends at once: TLS handshakes widen the window in which the nodes'
// dials to each other cross; every client still gets every message.
TEST_F(ClusterTls, ClientsOfNodesStartedTogetherGetEveryMessageSentAtOnce) {
  for (int round = 0; round < 2; ++round) {
    const std::array<unsigned short, 3> ports{free_port(), free_port(), free_port()};
    std::string peers;
    for (auto p : ports)
      peers += (peers.empty() ? "" : ",") + std::string{"127.0.0.1:"} + std::to_string(p);
    std::vector<std::unique_ptr<chatd_process>> nodes;
    for (int i = 0; i < 3; ++i) {
      const std::string id = "n" + std::to_string(i + 1);
      nodes.push_back(node(id, ports[i], peers, credentials("cluster", id)));
    }
    std::vector<std::unique_ptr<ws_client>> clients;
    for (auto& n : nodes) {
      clients.push_back(std::make_unique<ws_client>());
      clients.back()->connect(n->port(), "/rooms/start");
    }
    expect_everyone_gets_every_hello(clients);
  }
}

TEST_F(ClusterTls, PeersWithoutAValidCertificateAreRefused) {
  const unsigned short p1 = free_port(), p_stranger = free_port(), p_plain = free_port();
  const std::string to_n1 = "127.0.0.1:" + std::to_string(p1);
  auto n1 = node("n1", p1, "", credentials("cluster", "n1"));
  // Signed by another CA, and no certificate at all: both dial n1 over and over.
  auto stranger = node("stranger", p_stranger, to_n1, credentials("stranger", "n1"));
  auto plain = node("plain", p_plain, to_n1, {});

  ws_client member, intruder_client, plain_client;
  member.connect(n1->port(), "/");
  intruder_client.connect(stranger->port(), "/");
  plain_client.connect(plain->port(), "/");
  // Several dial attempts (250 ms backoff, doubling) go by.
  std::this_thread::sleep_for(3s);
  for (auto* n : {n1.get(), stranger.get(), plain.get()})
    EXPECT_EQ(wait_for_metric(n->port(), "chat_cluster_peers", 0, 1s), 0.0) << n->log_text();

  intruder_client.send_text("injected");
  plain_client.send_text("injected too");
  EXPECT_EQ(intruder_client.read(), text_message("injected"));
  EXPECT_EQ(plain_client.read(), text_message("injected too"));
  // n1 still serves its own clients, and nothing else reached them.
  member.send_text("only mine");
  EXPECT_EQ(member.read(), text_message("only mine"));
  EXPECT_EQ(wait_for_metric(n1->port(), "chat_cluster_messages_received_total", 0, 1s), 0.0);
}

// The addresses sockets listen on at `port`, as /proc/net/tcp{,6} write them:
// "0100007F" is 127.0.0.1, "00000000" any IPv4 address, 32 zeros any address.
std::vector<std::string> listening_addresses(unsigned short port) {
  std::vector<std::string> out;
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream tcp(table);
    std::string line;
    std::getline(tcp, line);
    while (std::getline(tcp, line)) {
      std::istringstream fields(line);
      std::string slot, local, remote, state;
      fields >> slot >> local >> remote >> state;
      const auto colon = local.find(':');
      if (state == "0A" && colon != std::string::npos && std::stoul(local.substr(colon + 1), nullptr, 16) == port)
        out.push_back(local.substr(0, colon));
    }
  }
  return out;
}

TEST_F(ClusterTls, WithoutCertificatesTheClusterPortListensOnLoopbackOnly) {
  const unsigned short port = free_port();
  auto n = node("n1", port, "", {});
  EXPECT_EQ(listening_addresses(port), std::vector<std::string>{"0100007F"});
  EXPECT_TRUE(n->wait_for_log("cluster links are not authenticated", 1s)) << n->log_text();

  const unsigned short wide = free_port();
  auto opened = node("n2", wide, "", {"--cluster-bind", "0.0.0.0"});
  const auto addresses = listening_addresses(wide);
  ASSERT_EQ(addresses.size(), 1u);
  EXPECT_TRUE(addresses[0] == "00000000" || addresses[0] == std::string(32, '0')) << addresses[0];
  EXPECT_TRUE(opened->wait_for_log("anyone who can reach it can inject messages", 1s)) << opened->log_text();
}

TEST_F(ClusterTls, BadCredentialsStopTheStartWithAMessage) {
  const auto exit_of = [](std::vector<std::string> args) {
    args.insert(args.begin(), {"--cluster-port", std::to_string(free_port())});
    return chatd_process::run_to_exit({.args = args}, 10s);
  };
  const auto only_cert = exit_of({"--cluster-cert", (dir_ / "cluster" / "n1.pem").string()});
  EXPECT_EQ(only_cert.status, 2) << only_cert.output;
  EXPECT_NE(only_cert.output.find("give all three"), std::string::npos) << only_cert.output;

  auto foreign = credentials("stranger", "n1");
  foreign.back() = (dir_ / "cluster" / "ca.pem").string(); // a CA that did not sign it
  const auto unsigned_cert = exit_of(foreign);
  EXPECT_EQ(unsigned_cert.status, 1) << unsigned_cert.output;
  EXPECT_NE(unsigned_cert.output.find("is not valid under --cluster-ca"), std::string::npos) << unsigned_cert.output;

  auto wrong_key = credentials("cluster", "n1");
  wrong_key[3] = (dir_ / "cluster" / "n2.key").string();
  const auto mismatched = exit_of(wrong_key);
  EXPECT_EQ(mismatched.status, 1) << mismatched.output;
  EXPECT_NE(mismatched.output.find("does not belong to"), std::string::npos) << mismatched.output;

  auto missing = credentials("cluster", "n1");
  missing[1] = (dir_ / "nowhere.pem").string();
  const auto absent = exit_of(missing);
  EXPECT_EQ(absent.status, 1) << absent.output;
  EXPECT_NE(absent.output.find("cannot load --cluster-cert"), std::string::npos) << absent.output;
}

} // namespace
} // namespace chatd::itest
