// Presence across real chatd processes: what a chatd.v1 client is told when
// it joins and while it stays (join/leave of users on any node), what the
// API's GET routes say, and that a killed node's users leave everywhere.
#include "chatd_process.hpp"
#include "free_port.hpp"
#include "http_probe.hpp"
#include "metrics_scrape.hpp"
#include "wait_until.hpp"
#include "ws_client.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <array>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <unistd.h>
#include <vector>

namespace chatd::itest {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;
namespace fs = std::filesystem;

constexpr auto exit_timeout = 10s;
const std::string api_key = "presence-test-api-key-0123456789";
const std::string secret = "presence-test-hs256-secret-0123456789abcdef";

struct api_answer {
  unsigned status = 0;
  std::string body;
};

// GET `target` with the API key (or `authorization` as given).
api_answer api_get(unsigned short port, const std::string& target,
                   const std::optional<std::string>& authorization = "Bearer " + api_key) {
  std::string request = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  if (authorization)
    request += "Authorization: " + *authorization + "\r\n";
  auto reply = raw_exchange(port, request + "\r\n").data;
  api_answer out;
  if (reply.rfind("HTTP/1.1 ", 0) == 0)
    out.status = static_cast<unsigned>(std::stoul(reply.substr(9, 3)));
  if (auto body = reply.find("\r\n\r\n"); body != std::string::npos)
    out.body = reply.substr(body + 4);
  return out;
}

json presence_of(unsigned short port, const std::string& room) {
  auto answer = api_get(port, "/api/rooms/" + room + "/presence");
  EXPECT_EQ(answer.status, 200u) << answer.body;
  return json::parse(answer.body, nullptr, false);
}

// Every connection the room's presence counts: listed users' and anonymous.
std::uint64_t connections_in(const json& presence) {
  if (!presence.is_object())
    return ~std::uint64_t{0};
  std::uint64_t n = presence.value("anonymous", std::uint64_t{0});
  for (auto& m : presence["members"])
    n += m.value("connections", std::uint64_t{0});
  return n;
}

std::vector<std::string> users_in(const json& presence) {
  std::vector<std::string> out;
  if (presence.is_object())
    for (auto& m : presence["members"])
      out.push_back(m.value("user", ""));
  return out;
}

json read_json(ws_client& c) {
  auto m = c.read();
  auto j = json::parse(m.data, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << m.data;
  return j;
}

// Reads until a message of `type` comes (others, e.g. chat messages, are skipped).
json read_type(ws_client& c, const std::string& type) {
  for (int i = 0; i < 100; ++i) {
    auto j = read_json(c);
    if (j.is_object() && j.value("type", "") == type)
      return j;
  }
  ADD_FAILURE() << "no " << type << " message in 100";
  return {};
}

class Presence : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("chatd-presence-test-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    std::ofstream(dir_ / "api-key") << api_key << "\n";
    std::ofstream(dir_ / "secret") << secret << "\n";
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  void SetUp() override {
    for (auto& p : cluster_ports_)
      p = free_port();
  }

  static std::string path(const std::string& name) { return (dir_ / name).string(); }

  // The API on; `users`: clients need a token (else every one is anonymous).
  static std::vector<std::string> base_args(bool users = true) {
    std::vector<std::string> args{"--api-key-file", path("api-key")};
    if (users)
      args.insert(args.end(), {"--auth-jwt-key", path("secret")});
    return args;
  }

  static std::string token(const std::string& sub, const std::string& name) {
    std::vector<std::string> args{"token", "--secret-file", path("secret"), "--sub", sub, "--name", name};
    const chatd_exit run = chatd_process::run_to_exit({.args = args, .listen_defaults = false}, exit_timeout);
    EXPECT_EQ(run.status, 0) << run.output;
    auto t = run.output;
    while (!t.empty() && t.back() == '\n')
      t.pop_back();
    return t;
  }

  void start(std::size_t i, const std::vector<std::string>& extra = {}, bool users = true) {
    std::string peers;
    for (auto p : cluster_ports_)
      peers += (peers.empty() ? "" : ",") + std::string{"127.0.0.1:"} + std::to_string(p);
    std::vector<std::string> args{"--threads",      "2",
                                  "--node-id",      "n" + std::to_string(i + 1),
                                  "--cluster-port", std::to_string(cluster_ports_[i]),
                                  "--peers",        peers};
    auto base = base_args(users);
    args.insert(args.end(), base.begin(), base.end());
    args.insert(args.end(), extra.begin(), extra.end());
    nodes_[i] = std::make_unique<chatd_process>(args);
  }

  void start_all(bool users = true) {
    for (std::size_t i = 0; i < nodes_.size(); ++i)
      start(i, {}, users);
    wait_for_mesh();
  }

  void wait_for_mesh() {
    double live = 0;
    for (auto& node : nodes_)
      live += node ? 1 : 0;
    for (auto& node : nodes_)
      if (node) {
        ASSERT_EQ(wait_for_metric(node->port(), "chat_cluster_peers", live - 1, 20s), live - 1);
      }
  }

  unsigned short port(std::size_t node) const { return nodes_[node]->port(); }

  // A chatd.v1 client in `room` on `node_port`, as `tok`'s user (empty: anonymous).
  static std::unique_ptr<ws_client> v1_client(unsigned short node_port, const std::string& room,
                                              const std::string& tok = {}) {
    auto c = std::make_unique<ws_client>();
    c->set_subprotocol("chatd.v1");
    c->connect(node_port, "/rooms/" + room + (tok.empty() ? "" : "?token=" + tok));
    EXPECT_EQ(c->subprotocol(), "chatd.v1");
    return c;
  }

  // Until the room's presence on `node` counts `connections` connections.
  bool counts(std::size_t node, const std::string& room, std::uint64_t connections,
              std::chrono::milliseconds timeout = 10s) {
    return wait_until([&] { return connections_in(presence_of(port(node), room)) == connections; }, timeout, 50ms);
  }

  static inline fs::path dir_;
  std::array<unsigned short, 3> cluster_ports_{};
  std::array<std::unique_ptr<chatd_process>, 3> nodes_;
};

TEST_F(Presence, AV1ClientGetsTheRoomsPresenceRightAfterItJoins) {
  chatd_process chatd(base_args());
  auto ada = v1_client(chatd.port(), "lobby", token("ada", "Ada"));
  EXPECT_EQ(read_json(*ada), json::parse(R"({"type":"presence","members":[{"user":"ada","name":"Ada","connections":1}],
                                            "anonymous":0})"));
  auto bob = v1_client(chatd.port(), "lobby", token("bob", "Bob"));
  EXPECT_EQ(read_json(*bob), json::parse(R"({"type":"presence","members":[{"user":"ada","name":"Ada","connections":1},
                                            {"user":"bob","name":"Bob","connections":1}],"anonymous":0})"));
  EXPECT_EQ(read_json(*ada), json::parse(R"({"type":"join","user":"bob","name":"Bob"})"));
  // A raw client is a member like any other, and is told nothing of presence.
  ws_client cy;
  cy.connect(chatd.port(), "/rooms/lobby?token=" + token("cy", "Cy"));
  EXPECT_EQ(read_json(*ada), json::parse(R"({"type":"join","user":"cy","name":"Cy"})"));
  cy.send_text("hello");
  EXPECT_EQ(cy.read(), text_message("hello"));
  EXPECT_EQ(read_json(*ada).value("type", ""), "message");
  bob->close();
  EXPECT_EQ(read_json(*ada), json::parse(R"({"type":"leave","user":"bob","name":"Bob"})"));
}

TEST_F(Presence, AnonymousConnectionsAreCountedNotListedOnEveryNode) {
  start_all(false);
  auto first = v1_client(port(0), "lobby");
  EXPECT_EQ(read_json(*first), json::parse(R"({"type":"presence","members":[],"anonymous":1})"));
  ws_client raw1, raw2;
  raw1.connect(port(1), "/rooms/lobby");
  raw2.connect(port(1), "/rooms/lobby");
  for (std::size_t n = 0; n < 3; ++n)
    ASSERT_TRUE(counts(n, "lobby", 3)) << "node " << n + 1;
  auto third = v1_client(port(2), "lobby");
  EXPECT_EQ(read_json(*third), json::parse(R"({"type":"presence","members":[],"anonymous":4})"));
  // Anonymous joins make no events: the next thing the first client gets is a message.
  raw1.send_text("hello");
  EXPECT_EQ(read_json(*first).value("type", ""), "message");
}

TEST_F(Presence, TheApiListsRoomsAndPresenceAndKeepsItsKey) {
  chatd_process chatd(base_args());
  auto bob = v1_client(chatd.port(), "lobby", token("bob", "Bob"));
  auto bob2 = v1_client(chatd.port(), "lobby", token("bob", "Bob"));
  ws_client cy;
  cy.connect(chatd.port(), "/rooms/other?token=" + token("cy", "Cy"));
  ASSERT_TRUE(wait_until([&] { return connections_in(presence_of(chatd.port(), "other")) == 1; }, 10s));

  auto rooms = api_get(chatd.port(), "/api/rooms");
  EXPECT_EQ(rooms.status, 200u);
  EXPECT_EQ(json::parse(rooms.body, nullptr, false),
            json::parse(R"([{"room":"lobby","connections":2},{"room":"other","connections":1}])"));
  EXPECT_EQ(presence_of(chatd.port(), "lobby"),
            json::parse(R"({"room":"lobby","members":[{"user":"bob","name":"Bob","connections":2}],"anonymous":0})"));
  EXPECT_EQ(presence_of(chatd.port(), "nobody-here"),
            json::parse(R"({"room":"nobody-here","members":[],"anonymous":0})"));
  EXPECT_EQ(api_get(chatd.port(), "/api/rooms/bad%20name!/presence").status, 400u);
  EXPECT_EQ(api_get(chatd.port(), "/api/rooms", std::nullopt).status, 401u);
  EXPECT_EQ(api_get(chatd.port(), "/api/rooms/lobby/presence", "Bearer not-the-key").status, 401u);

  chatd_process keyless({"--auth-jwt-key", path("secret")});
  EXPECT_EQ(api_get(keyless.port(), "/api/rooms").status, 404u);
  EXPECT_EQ(api_get(keyless.port(), "/api/rooms/lobby/presence").status, 404u);
}

TEST_F(Presence, JoinAndLeaveComeFromEveryNodeOncePerUser) {
  start_all();
  auto watcher = v1_client(port(0), "lobby", token("wat", "Watcher"));
  EXPECT_EQ(read_type(*watcher, "presence")["members"].size(), 1u);

  // Carol opens two tabs on n2 and one on n3: one join.
  auto carol_tab1 = v1_client(port(1), "lobby", token("carol", "Carol"));
  auto join = read_type(*watcher, "join");
  EXPECT_EQ(join, json::parse(R"({"type":"join","user":"carol","name":"Carol"})"));
  auto carol_tab2 = v1_client(port(1), "lobby", token("carol", "Carol"));
  auto carol_tab3 = v1_client(port(2), "lobby", token("carol", "Carol"));
  ASSERT_TRUE(counts(0, "lobby", 4));
  // Dave's join comes next, not a second one of Carol's.
  auto dave = v1_client(port(2), "lobby", token("dave", "Dave"));
  EXPECT_EQ(read_type(*watcher, "join"), json::parse(R"({"type":"join","user":"dave","name":"Dave"})"));

  // A snapshot on n3 has everyone, from every node: once n3 has heard from
  // n2 (its counts come in batches, 50 ms apart; a snapshot taken before
  // would lack Carol's n2 tabs, which then arrive as counts).
  ASSERT_TRUE(counts(2, "lobby", 5));
  auto late = v1_client(port(2), "lobby", token("eve", "Eve"));
  auto snapshot = read_type(*late, "presence");
  EXPECT_EQ(users_in(snapshot), (std::vector<std::string>{"carol", "dave", "eve", "wat"}));
  for (auto& m : snapshot["members"])
    if (m["user"] == "carol")
      EXPECT_EQ(m["connections"], 3);
  EXPECT_EQ(read_type(*watcher, "join")["user"], "eve");

  carol_tab1->close();
  carol_tab3->close();
  ASSERT_TRUE(counts(0, "lobby", 4));
  carol_tab2->close();
  EXPECT_EQ(read_type(*watcher, "leave"), json::parse(R"({"type":"leave","user":"carol","name":"Carol"})"));
  // The late member on n3 sees it too. (Before Dave leaves: his leave is
  // n3's own news, Carol's comes from n2, and presence orders each user's
  // changes, not different users' changes made on different nodes.)
  EXPECT_EQ(read_type(*late, "leave")["user"], "carol");
  dave->close();
  EXPECT_EQ(read_type(*watcher, "leave")["user"], "dave");
  EXPECT_EQ(read_type(*late, "leave")["user"], "dave");
}

TEST_F(Presence, AKilledNodesUsersLeaveAndComeBackWhenTheyReconnect) {
  start_all();
  auto watcher = v1_client(port(0), "lobby", token("wat", "Watcher"));
  read_type(*watcher, "presence");
  auto frank = v1_client(port(2), "lobby", token("frank", "Frank"));
  std::vector<std::unique_ptr<ws_client>> franks_tabs;
  for (int i = 0; i < 3; ++i) {
    franks_tabs.push_back(std::make_unique<ws_client>());
    franks_tabs.back()->connect(port(2), "/rooms/lobby?token=" + token("frank", "Frank"));
  }
  auto gina = v1_client(port(1), "lobby", token("gina", "Gina"));
  EXPECT_EQ(read_type(*watcher, "join")["user"], "frank");
  EXPECT_EQ(read_type(*watcher, "join")["user"], "gina");
  for (std::size_t n = 0; n < 3; ++n)
    ASSERT_TRUE(counts(n, "lobby", 6)) << "node " << n + 1;

  nodes_[2]->send_signal(SIGKILL);
  nodes_[2]->wait_exit(5s);
  frank.reset();
  franks_tabs.clear();
  const auto killed = std::chrono::steady_clock::now();
  // Within the heartbeat timeout, on both survivors: Frank (all four
  // connections) leaves.
  EXPECT_EQ(read_type(*watcher, "leave"), json::parse(R"({"type":"leave","user":"frank","name":"Frank"})"));
  EXPECT_TRUE(counts(0, "lobby", 2, 10s));
  EXPECT_TRUE(counts(1, "lobby", 2, 10s));
  EXPECT_LT(std::chrono::steady_clock::now() - killed, 15s);
  EXPECT_EQ(users_in(presence_of(port(1), "lobby")), (std::vector<std::string>{"gina", "wat"}));

  nodes_[2].reset();
  start(2);
  wait_for_mesh();
  // The restarted node has its peers' dumps (they follow the link-up): a
  // snapshot taken before them would lack Gina, who would then join.
  ASSERT_TRUE(counts(2, "lobby", 2));
  auto frank_again = v1_client(port(2), "lobby", token("frank", "Frank"));
  auto snapshot = read_type(*frank_again, "presence");
  EXPECT_EQ(users_in(snapshot), (std::vector<std::string>{"frank", "gina", "wat"}));
  EXPECT_EQ(read_type(*watcher, "join")["user"], "frank");
  for (std::size_t n = 0; n < 3; ++n)
    EXPECT_TRUE(counts(n, "lobby", 3)) << "node " << n + 1;
  auto rooms = json::parse(api_get(port(1), "/api/rooms").body, nullptr, false);
  EXPECT_EQ(rooms, json::parse(R"([{"room":"lobby","connections":3}])"));
}

TEST_F(Presence, ARoomOverTheThresholdGetsCountsAndNoEvents) {
  chatd_process chatd([] {
    auto args = base_args();
    args.insert(args.end(), {"--presence-max-members", "2"});
    return args;
  }());
  auto ada = v1_client(chatd.port(), "big", token("ada", "Ada"));
  read_type(*ada, "presence");
  auto bob = v1_client(chatd.port(), "big", token("bob", "Bob"));
  EXPECT_EQ(read_type(*ada, "join")["user"], "bob");
  EXPECT_EQ(read_type(*bob, "presence")["members"].size(), 2u);
  // The third member makes the room large: counts, once, instead of a join.
  auto cy = v1_client(chatd.port(), "big", token("cy", "Cy"));
  auto counted = json::parse(R"({"type":"presence","members":null,"users":3,"connections":3,"anonymous":0})");
  EXPECT_EQ(read_type(*cy, "presence"), counted);
  EXPECT_EQ(read_type(*ada, "presence"), counted);
  ws_client dee;
  dee.connect(chatd.port(), "/rooms/big?token=" + token("dee", "Dee"));
  // No event for a large room: the next thing Ada gets is this message.
  ASSERT_TRUE(wait_until([&] { return connections_in(presence_of(chatd.port(), "big")) == 4; }, 10s));
  dee.send_text("after");
  EXPECT_EQ(read_json(*ada).value("type", ""), "message");
  // The API lists everyone whatever the size.
  EXPECT_EQ(users_in(presence_of(chatd.port(), "big")), (std::vector<std::string>{"ada", "bob", "cy", "dee"}));
}

} // namespace
} // namespace chatd::itest
