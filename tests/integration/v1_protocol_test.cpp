// The chatd.v1 subprotocol with real clients: negotiation, envelopes, errors,
// rooms shared with raw clients, on one node and across a cluster.
#include "api_probe.hpp"
#include "chatd_process.hpp"
#include "free_port.hpp"
#include "metrics_scrape.hpp"
#include "test_tokens.hpp"
#include "ws_client.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <array>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace chatd::itest {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::unique_ptr<ws_client> v1_client(unsigned short port, const std::string& target = "/") {
  auto c = std::make_unique<ws_client>();
  c->set_subprotocol("chatd.v1");
  c->connect(port, target);
  EXPECT_EQ(c->subprotocol(), "chatd.v1");
  return c;
}

std::unique_ptr<ws_client> raw_client(unsigned short port, const std::string& target = "/") {
  auto c = std::make_unique<ws_client>();
  c->connect(port, target);
  return c;
}

bool is_presence(const json& j) {
  auto type = j.is_object() ? j.value("type", "") : "";
  return type == "presence" || type == "join" || type == "leave";
}

// The next message that is not about presence (tests/integration/presence_test.cpp),
// which must be a JSON text frame.
json read_json(ws_client& client) {
  for (;;) {
    auto message = client.read();
    EXPECT_FALSE(message.binary);
    auto parsed = json::parse(message.data, nullptr, false);
    EXPECT_FALSE(parsed.is_discarded()) << message.data;
    if (!is_presence(parsed))
      return parsed;
  }
}

std::string publish(const json& data) { return json{{"type", "publish"}, {"data", data}}.dump(); }

void wait_for_clients(unsigned short port, double count) {
  ASSERT_EQ(wait_for_metric(port, "chat_connections", count), count);
}

TEST(V1Protocol, IsSelectedWhenOffered) {
  chatd_process chatd;
  ws_client client;
  client.set_subprotocol("chatd.v1");
  client.connect(chatd.port(), "/");
  EXPECT_EQ(client.subprotocol(), "chatd.v1");
}

TEST(V1Protocol, IsFoundInAListOfOffers) {
  chatd_process chatd;
  ws_client client;
  client.set_subprotocol("other.v2 ,  chatd.v1\t, more");
  client.connect(chatd.port(), "/");
  EXPECT_EQ(client.subprotocol(), "chatd.v1");
}

TEST(V1Protocol, NoSubprotocolWhenNotOffered) {
  chatd_process chatd;
  ws_client plain;
  plain.connect(chatd.port(), "/");
  EXPECT_EQ(plain.subprotocol(), "");
  ws_client other;
  other.set_subprotocol("chatd.v2, chatd.v1x");
  other.connect(chatd.port(), "/");
  EXPECT_EQ(other.subprotocol(), "");
  // Not a v1 client: it keeps the raw protocol.
  other.send_text("not JSON");
  EXPECT_EQ(other.read(), text_message("not JSON"));
}

TEST(V1Protocol, APublishReachesEveryV1ClientIncludingTheSender) {
  chatd_process chatd({"--threads", "2"});
  auto a = v1_client(chatd.port(), "/rooms/lobby");
  auto b = v1_client(chatd.port(), "/rooms/lobby");
  wait_for_clients(chatd.port(), 2);
  const json data = {{"text", "caf\xc3\xa9 \xe2\x9c\x93"}, {"n", 1}, {"list", {1, 2.5, nullptr, true}}};
  const auto before = now_ms();
  a->send_text(publish(data));
  for (auto* client : {a.get(), b.get()}) {
    auto envelope = read_json(*client);
    EXPECT_EQ(envelope["type"], "message");
    EXPECT_EQ(envelope["room"], "lobby");
    EXPECT_TRUE(envelope["from"].is_null()); // anonymous
    EXPECT_EQ(envelope["data"], data);
    EXPECT_FALSE(envelope.contains("encoding"));
    ASSERT_TRUE(envelope["ts"].is_number_integer());
    EXPECT_GE(envelope["ts"].get<std::int64_t>(), before);
    EXPECT_LE(envelope["ts"].get<std::int64_t>(), now_ms());
  }
}

TEST(V1Protocol, FromIsSetByTheServerNotTheClient) {
  chatd_process chatd;
  auto a = v1_client(chatd.port());
  wait_for_clients(chatd.port(), 1);
  a->send_text(json{{"type", "publish"}, {"data", "hi"}, {"from", {{"user", "mallory"}}}, {"ts", 1}}.dump());
  auto envelope = read_json(*a);
  EXPECT_TRUE(envelope["from"].is_null()) << envelope.dump();
  EXPECT_NE(envelope["ts"], 1);
  EXPECT_EQ(envelope["data"], "hi");
}

TEST(V1Protocol, FromIsTheTokensUserAndName) {
  temp_file secret{std::string{test_jwt_secret}};
  chatd_process chatd({"--auth-jwt-key", secret.path()});
  auto alice = v1_client(chatd.port(), "/rooms/lobby?token=" + make_test_token("alice", "Alice"));
  auto bob = v1_client(chatd.port(), "/rooms/lobby?token=" + make_test_token("bob"));
  wait_for_clients(chatd.port(), 2);
  alice->send_text(json{{"type", "publish"}, {"data", 1}, {"from", {{"user", "bob"}}}}.dump());
  for (auto* client : {alice.get(), bob.get()})
    EXPECT_EQ(read_json(*client)["from"], json({{"user", "alice"}, {"name", "Alice"}}));
  bob->send_text(publish(2));
  for (auto* client : {alice.get(), bob.get()})
    EXPECT_EQ(read_json(*client)["from"], json({{"user", "bob"}})); // no name in the token: none here
}

TEST(V1Protocol, MistakesAreAnsweredAndTheConnectionStaysOpen) {
  chatd_process chatd;
  auto sender = v1_client(chatd.port());
  auto other = v1_client(chatd.port());
  wait_for_clients(chatd.port(), 2);
  const std::vector<std::pair<std::string, std::string>> cases{
      {"not json", "not_json"},
      {"{\"type\":\"publish\",", "not_json"},
      {"[1,2]", "bad_message"},
      {"\"publish\"", "bad_message"},
      {"{\"type\":\"shout\",\"data\":1}", "unknown_type"},
      {"{\"data\":1}", "unknown_type"},
      {"{\"type\":\"publish\"}", "missing_data"},
  };
  for (const auto& [text, code] : cases) {
    SCOPED_TRACE(text);
    sender->send_text(text);
    auto error = read_json(*sender);
    EXPECT_EQ(error["type"], "error");
    EXPECT_EQ(error["code"], code);
    EXPECT_TRUE(error["message"].is_string());
    EXPECT_FALSE(error["message"].get<std::string>().empty());
  }
  sender->send_binary("{\"type\":\"publish\",\"data\":1}");
  EXPECT_EQ(read_json(*sender)["code"], "not_json");
  // Still connected; the other client saw none of the mistakes.
  sender->send_text(publish("after"));
  EXPECT_EQ(read_json(*sender)["data"], "after");
  EXPECT_EQ(read_json(*other)["data"], "after");
}

TEST(V1Protocol, AFloodOfMistakesIsCoveredByTheRateLimit) {
  chatd_process chatd({"--max-messages-per-second", "5"});
  auto sender = v1_client(chatd.port());
  wait_for_clients(chatd.port(), 1);
  for (int i = 0; i < 50; ++i)
    sender->send_text("bad");
  auto result = sender->read_close_code();
  ASSERT_TRUE(result.code.has_value());
  EXPECT_EQ(*result.code, 1008);
  EXPECT_LE(result.messages_before_close, 6u); // error answers for the burst only
}

// README "Mixed rooms": what each kind of client gets from the other.
TEST(V1Protocol, RawAndV1ClientsShareARoom) {
  chatd_process chatd({"--threads", "2"});
  auto raw = raw_client(chatd.port(), "/rooms/mixed");
  auto v1 = v1_client(chatd.port(), "/rooms/mixed");
  wait_for_clients(chatd.port(), 2);

  raw->send_text("plain \"text\" caf\xc3\xa9");
  EXPECT_EQ(raw->read(), text_message("plain \"text\" caf\xc3\xa9"));
  auto envelope = read_json(*v1);
  EXPECT_EQ(envelope["data"], "plain \"text\" caf\xc3\xa9");
  EXPECT_FALSE(envelope.contains("encoding"));
  EXPECT_TRUE(envelope["from"].is_null());

  raw->send_binary(std::string("\0\xff\x01"
                               "bin",
                               6));
  EXPECT_EQ(raw->read(), binary_message(std::string("\0\xff\x01"
                                                    "bin",
                                                    6)));
  envelope = read_json(*v1);
  EXPECT_EQ(envelope["encoding"], "base64");
  EXPECT_EQ(envelope["data"], "AP8BYmlu");

  v1->send_text(publish("hi"));
  EXPECT_EQ(raw->read(), text_message("\"hi\"")); // the JSON text of data, quotes and all
  EXPECT_EQ(read_json(*v1)["data"], "hi");

  v1->send_text(R"({"type":"publish","data": { "b" : [1, 2], "a" : "\u00e9" } })");
  EXPECT_EQ(raw->read(), text_message("{\"a\":\"\xc3\xa9\",\"b\":[1,2]}")); // compact
  EXPECT_EQ(read_json(*v1)["data"], json({{"a", "\xc3\xa9"}, {"b", {1, 2}}}));

  // A v1 error goes to its sender only.
  v1->send_text("oops");
  EXPECT_EQ(read_json(*v1)["code"], "not_json");
  raw->send_text("sentinel");
  EXPECT_EQ(raw->read(), text_message("sentinel"));
  EXPECT_EQ(read_json(*v1)["data"], "sentinel");
}

TEST(V1Protocol, EnvelopesAreCompressedOnceForEveryV1Client) {
  chatd_process chatd({"--threads", "2", "--compression", "on"});
  std::vector<std::unique_ptr<ws_client>> clients;
  for (int i = 0; i < 3; ++i) {
    clients.push_back(std::make_unique<ws_client>());
    clients.back()->enable_compression();
    clients.back()->set_subprotocol("chatd.v1");
    clients.back()->connect(chatd.port(), "/");
  }
  wait_for_clients(chatd.port(), 3);
  const std::string long_text(2000, 'x');
  clients[0]->send_text(publish(long_text));
  for (auto& client : clients)
    EXPECT_EQ(read_json(*client)["data"], long_text);
  EXPECT_EQ(wait_for_metric(chatd.port(), "chat_messages_compressed_total", 1.0), 1.0);
}

// Three nodes: what a client of one kind sends reaches the other kind on
// other nodes, with the sender's time carried unchanged.
TEST(V1Cluster, RawAndV1ClientsShareARoomAcrossNodes) {
  std::array<unsigned short, 3> cluster_ports{free_port(), free_port(), free_port()};
  std::string peers;
  for (auto p : cluster_ports)
    peers += (peers.empty() ? "" : ",") + std::string{"127.0.0.1:"} + std::to_string(p);
  std::array<std::unique_ptr<chatd_process>, 3> nodes;
  for (std::size_t i = 0; i < nodes.size(); ++i)
    nodes[i] = std::make_unique<chatd_process>(
        std::vector<std::string>{"--threads", "2", "--node-id", "n" + std::to_string(i + 1), "--cluster-port",
                                 std::to_string(cluster_ports[i]), "--peers", peers});
  for (auto& node : nodes)
    ASSERT_EQ(wait_for_metric(node->port(), "chat_cluster_peers", 2.0, 20s), 2.0);

  auto raw = raw_client(nodes[0]->port(), "/rooms/mixed");
  wait_for_clients(nodes[0]->port(), 1);
  auto v1_two = v1_client(nodes[1]->port(), "/rooms/mixed");
  wait_for_clients(nodes[1]->port(), 1);
  auto v1_three = v1_client(nodes[2]->port(), "/rooms/mixed");
  wait_for_clients(nodes[2]->port(), 1);

  raw->send_text("from raw");
  EXPECT_EQ(raw->read(), text_message("from raw"));
  auto on_two = read_json(*v1_two);
  auto on_three = read_json(*v1_three);
  EXPECT_EQ(on_two["data"], "from raw");
  EXPECT_EQ(on_two["room"], "mixed");
  EXPECT_EQ(on_two, on_three); // the same envelope, ts included, on every node

  raw->send_binary(std::string("\x00\x01", 2));
  EXPECT_EQ(raw->read(), binary_message(std::string("\x00\x01", 2)));
  EXPECT_EQ(read_json(*v1_two)["encoding"], "base64");
  EXPECT_EQ(read_json(*v1_three)["data"], "AAE=");

  v1_two->send_text(publish({{"k", "v"}}));
  EXPECT_EQ(raw->read(), text_message("{\"k\":\"v\"}"));
  on_two = read_json(*v1_two);
  on_three = read_json(*v1_three);
  EXPECT_EQ(on_three["data"], json({{"k", "v"}}));
  EXPECT_TRUE(on_three["from"].is_null());
  EXPECT_EQ(on_two, on_three);
}

TEST(V1Cluster, TheSendersNameCrossesNodes) {
  temp_file secret{std::string{test_jwt_secret}};
  std::array<unsigned short, 2> cluster_ports{free_port(), free_port()};
  const std::string peers =
      "127.0.0.1:" + std::to_string(cluster_ports[0]) + ",127.0.0.1:" + std::to_string(cluster_ports[1]);
  std::array<std::unique_ptr<chatd_process>, 2> nodes;
  for (std::size_t i = 0; i < nodes.size(); ++i)
    nodes[i] = std::make_unique<chatd_process>(
        std::vector<std::string>{"--node-id", "n" + std::to_string(i + 1), "--cluster-port",
                                 std::to_string(cluster_ports[i]), "--peers", peers, "--auth-jwt-key", secret.path()});
  for (auto& node : nodes)
    ASSERT_EQ(wait_for_metric(node->port(), "chat_cluster_peers", 1.0, 20s), 1.0);
  auto alice = v1_client(nodes[0]->port(), "/?token=" + make_test_token("alice", "Alice"));
  wait_for_clients(nodes[0]->port(), 1);
  auto bob = v1_client(nodes[1]->port(), "/?token=" + make_test_token("bob"));
  wait_for_clients(nodes[1]->port(), 1);
  alice->send_text(publish("hello"));
  EXPECT_EQ(read_json(*alice)["from"], json({{"user", "alice"}, {"name", "Alice"}}));
  EXPECT_EQ(read_json(*bob)["from"], json({{"user", "alice"}, {"name", "Alice"}}));
}

} // namespace
} // namespace chatd::itest
