// The server API (--api-key-file) against real chatd processes and clients.
#include "api_probe.hpp"
#include "chatd_process.hpp"
#include "free_port.hpp"
#include "http_probe.hpp"
#include "metrics_scrape.hpp"
#include "test_tokens.hpp"
#include "ws_client.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <array>
#include <memory>
#include <string>
#include <vector>

namespace chatd::itest {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

constexpr std::string_view api_key = "k3y-for-the-api-tests";
const std::string good_auth = "Bearer " + std::string{api_key};

std::unique_ptr<ws_client> client(unsigned short port, const std::string& target, bool v1) {
  auto c = std::make_unique<ws_client>();
  if (v1)
    c->set_subprotocol("chatd.v1");
  c->connect(port, target);
  return c;
}

// The next message that is not about presence (tests/integration/presence_test.cpp).
json read_json(ws_client& c) {
  for (;;) {
    auto message = c.read();
    EXPECT_FALSE(message.binary);
    auto parsed = json::parse(message.data, nullptr, false);
    auto type = parsed.is_object() ? parsed.value("type", "") : "";
    if (type != "presence" && type != "join" && type != "leave")
      return parsed;
  }
}

void wait_for_clients(unsigned short port, double count) {
  ASSERT_EQ(wait_for_metric(port, "chat_connections", count), count);
}

class Api : public ::testing::Test {
protected:
  // The key file ends with a newline, which is not part of the key.
  temp_file key_file_{std::string{api_key} + "\n"};
  chatd_process chatd_{{"--threads", "2", "--api-key-file", key_file_.path(), "--max-message-bytes", "1000"}};
  unsigned short port() const { return chatd_.port(); }
  api_reply post(std::string_view target, std::string_view type, std::string_view body,
                 std::string_view auth = good_auth) {
    return api_request(port(), "POST", target, auth, type, body);
  }
};

TEST(ApiOff, WithoutAKeyEveryApiRouteIs404) {
  chatd_process chatd;
  EXPECT_EQ(api_request(chatd.port(), "POST", "/api/rooms/lobby/messages", good_auth, "text/plain", "x").status, 404u);
  EXPECT_EQ(api_request(chatd.port(), "DELETE", "/api/rooms/lobby/users/alice", good_auth).status, 404u);
  EXPECT_EQ(http_get(chatd.port(), "/api/info").status, 200u);
}

TEST_F(Api, AWrongOrMissingKeyIs401) {
  const std::vector<std::string> wrong{"",
                                       "Bearer wrong",
                                       "Bearer " + std::string{api_key} + "x",
                                       "Basic " + std::string{api_key},
                                       std::string{api_key},
                                       "Bearer k3y-for-the-api-test"};
  for (const auto& auth : wrong) {
    SCOPED_TRACE(auth);
    auto reply = post("/api/rooms/lobby/messages", "text/plain", "x", auth);
    EXPECT_EQ(reply.status, 401u);
    EXPECT_TRUE(reply.has_header("WWW-Authenticate: Bearer")) << reply.head;
    reply = api_request(port(), "DELETE", "/api/rooms/lobby/users/alice", auth);
    EXPECT_EQ(reply.status, 401u);
    // Unknown routes too: nothing about the API is told without the key.
    EXPECT_EQ(api_request(port(), "GET", "/api/nothing", auth).status, 401u);
  }
  EXPECT_EQ(wait_for_metric(port(), "chat_http_responses_total{code=\"401\"}", 18.0), 18.0);
}

TEST_F(Api, InfoStaysPublic) {
  auto reply = http_get(port(), "/api/info");
  EXPECT_EQ(reply.status, 200u);
  EXPECT_NE(reply.body.find("node"), std::string::npos) << reply.body;
}

TEST_F(Api, PostedTextReachesRawAndV1Clients) {
  auto raw = client(port(), "/rooms/lobby", false);
  auto v1 = client(port(), "/rooms/lobby", true);
  auto elsewhere = client(port(), "/rooms/other", false);
  wait_for_clients(port(), 3);
  auto reply = post("/api/rooms/lobby/messages", "text/plain; charset=utf-8", "caf\xc3\xa9 from the backend");
  EXPECT_EQ(reply.status, 202u);
  EXPECT_EQ(json::parse(reply.body, nullptr, false), json({{"room", "lobby"}})) << reply.body;
  EXPECT_EQ(raw->read(), text_message("caf\xc3\xa9 from the backend"));
  auto envelope = read_json(*v1);
  EXPECT_EQ(envelope["type"], "message");
  EXPECT_EQ(envelope["room"], "lobby");
  EXPECT_EQ(envelope["from"], json({{"user", "api"}}));
  EXPECT_EQ(envelope["data"], "caf\xc3\xa9 from the backend");
  EXPECT_TRUE(envelope["ts"].is_number_integer());
  // The other room got nothing: its next message is the one sent to it.
  EXPECT_EQ(post("/api/rooms/other/messages", "text/plain", "for other").status, 202u);
  EXPECT_EQ(elsewhere->read(), text_message("for other"));
}

TEST_F(Api, PostedBinaryAndJsonKeepTheirKinds) {
  auto raw = client(port(), "/", false);
  auto v1 = client(port(), "/", true);
  wait_for_clients(port(), 2);
  EXPECT_EQ(post("/api/rooms/default/messages", "application/octet-stream", std::string("\0\x01\xfe", 3)).status, 202u);
  EXPECT_EQ(raw->read(), binary_message(std::string("\0\x01\xfe", 3)));
  auto envelope = read_json(*v1);
  EXPECT_EQ(envelope["encoding"], "base64");
  EXPECT_EQ(envelope["data"], "AAH+");
  EXPECT_EQ(envelope["from"], json({{"user", "api"}}));

  EXPECT_EQ(post("/api/rooms/default/messages", "Application/JSON", R"( {"alert": [1, "two"]} )").status, 202u);
  EXPECT_EQ(raw->read(), text_message(R"({"alert":[1,"two"]})"));
  envelope = read_json(*v1);
  EXPECT_EQ(envelope["data"], json({{"alert", {1, "two"}}}));
  EXPECT_FALSE(envelope.contains("encoding"));
}

TEST_F(Api, BadBodiesAndRoomsAreRefused) {
  auto raw = client(port(), "/", false);
  wait_for_clients(port(), 1);
  EXPECT_EQ(post("/api/rooms/default/messages", "application/json", "{not json").status, 400u);
  EXPECT_EQ(post("/api/rooms/default/messages", "text/plain", "bad \xc3 utf-8").status, 400u);
  EXPECT_EQ(post("/api/rooms/default/messages", "text/html", "<p>").status, 415u);
  EXPECT_EQ(post("/api/rooms/default/messages", "", "no type").status, 415u);
  EXPECT_EQ(post("/api/rooms/bad%20room/messages", "text/plain", "x").status, 400u);
  EXPECT_EQ(post("/api/rooms/" + std::string(65, 'r') + "/messages", "text/plain", "x").status, 400u);
  // --max-message-bytes is 1000: 1000 bytes go, 1001 (what the parser lets
  // through) and far more (what it refuses) are 413.
  EXPECT_EQ(post("/api/rooms/default/messages", "text/plain", std::string(1000, 'a')).status, 202u);
  EXPECT_EQ(post("/api/rooms/default/messages", "text/plain", std::string(1001, 'b')).status, 413u);
  EXPECT_EQ(post("/api/rooms/default/messages", "text/plain", std::string(20'000, 'c')).status, 413u);
  // Only the good one was published.
  EXPECT_EQ(post("/api/rooms/default/messages", "text/plain", "sentinel").status, 202u);
  EXPECT_EQ(raw->read(), text_message(std::string(1000, 'a')));
  EXPECT_EQ(raw->read(), text_message("sentinel"));
}

TEST_F(Api, AClientThatExpectsContinueGetsIt) {
  auto raw = client(port(), "/", false);
  wait_for_clients(port(), 1);
  const std::string body(1000, 'e');
  auto reply = raw_exchange(port(), "POST /api/rooms/default/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                    "Connection: close\r\nAuthorization: " +
                                        good_auth +
                                        "\r\nContent-Type: text/plain\r\nExpect: 100-continue\r\n"
                                        "Content-Length: 1000\r\n\r\n" +
                                        body);
  EXPECT_TRUE(reply.data.starts_with("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 Accepted\r\n")) << reply.data;
  EXPECT_EQ(raw->read(), text_message(body));
  // HTTP/1.0 has no 1xx: the expectation is ignored (found by the fuzzer).
  reply = raw_exchange(port(),
                       "POST /api/rooms/default/messages HTTP/1.0\r\nHost: 127.0.0.1\r\nAuthorization: " + good_auth +
                           "\r\nContent-Type: text/plain\r\nExpect: 100-continue\r\n"
                           "Content-Length: 1000\r\n\r\n" +
                           body);
  EXPECT_TRUE(reply.data.starts_with("HTTP/1.0 202 Accepted\r\n")) << reply.data;
  EXPECT_EQ(raw->read(), text_message(body));
}

TEST_F(Api, WrongMethodsAndUnknownRoutes) {
  auto reply = api_request(port(), "GET", "/api/rooms/lobby/messages", good_auth);
  EXPECT_EQ(reply.status, 405u);
  EXPECT_TRUE(reply.has_header("Allow: POST")) << reply.head;
  reply = api_request(port(), "POST", "/api/rooms/lobby/users/alice", good_auth, "text/plain", "x");
  EXPECT_EQ(reply.status, 405u);
  EXPECT_TRUE(reply.has_header("Allow: DELETE")) << reply.head;
  EXPECT_EQ(api_request(port(), "GET", "/api/nothing", good_auth).status, 404u);
  EXPECT_EQ(api_request(port(), "DELETE", "/api/rooms/lobby/users/", good_auth).status, 404u);
  EXPECT_EQ(api_request(port(), "DELETE", "/api/rooms/lobby/users/a/b", good_auth).status, 404u);
  EXPECT_EQ(api_request(port(), "DELETE", "/api/rooms/lobby/users/bad%zz", good_auth).status, 400u);
  EXPECT_EQ(api_request(port(), "DELETE", "/api/rooms/no%20room/users/alice", good_auth).status, 400u);
}

TEST_F(Api, DeleteIsAcceptedAndLeavesOtherUsersConnected) {
  auto anonymous = client(port(), "/rooms/lobby", false);
  wait_for_clients(port(), 1);
  auto reply = api_request(port(), "DELETE", "/api/rooms/lobby/users/alice", good_auth);
  EXPECT_EQ(reply.status, 202u);
  EXPECT_EQ(json::parse(reply.body, nullptr, false), json({{"room", "lobby"}, {"user", "alice"}})) << reply.body;
  EXPECT_EQ(post("/api/rooms/lobby/messages", "text/plain", "still here").status, 202u);
  EXPECT_EQ(anonymous->read(), text_message("still here"));
  EXPECT_EQ(wait_for_metric(port(), "chat_http_responses_total{code=\"202\"}", 2.0), 2.0);
}

TEST(ApiConfig, AnUnreadableOrEmptyKeyFileStopsChatd) {
  temp_file empty{"\n"};
  for (const auto& path : {std::string{"/nonexistent/chatd.key"}, empty.path()}) {
    SCOPED_TRACE(path);
    auto run = chatd_process::run_to_exit({.args = {"--api-key-file", path}}, 10s);
    ASSERT_TRUE(run.status.has_value());
    EXPECT_NE(*run.status, 0);
    EXPECT_NE(run.output.find("--api-key-file"), std::string::npos) << run.output;
    EXPECT_EQ(run.output.find("listening on"), std::string::npos) << run.output;
  }
}

// Three nodes, the API used on one of them.
class ApiCluster : public ::testing::Test {
protected:
  void start(const std::vector<std::string>& extra = {}) {
    std::array<unsigned short, 3> cluster_ports{free_port(), free_port(), free_port()};
    std::string peers;
    for (auto p : cluster_ports)
      peers += (peers.empty() ? "" : ",") + std::string{"127.0.0.1:"} + std::to_string(p);
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      std::vector<std::string> args{"--threads",      "2",
                                    "--node-id",      "n" + std::to_string(i + 1),
                                    "--cluster-port", std::to_string(cluster_ports[i]),
                                    "--peers",        peers,
                                    "--api-key-file", key_file_.path()};
      args.insert(args.end(), extra.begin(), extra.end());
      nodes_[i] = std::make_unique<chatd_process>(args);
    }
    for (auto& node : nodes_)
      ASSERT_EQ(wait_for_metric(node->port(), "chat_cluster_peers", 2.0, 20s), 2.0);
  }
  unsigned short port(std::size_t i) const { return nodes_[i]->port(); }

  temp_file key_file_{std::string{api_key}};
  std::array<std::unique_ptr<chatd_process>, 3> nodes_;
};

TEST_F(ApiCluster, APostReachesEveryNodeFromANodeWithoutMembers) {
  start();
  auto raw = client(port(1), "/rooms/news", false);
  wait_for_clients(port(1), 1);
  auto v1 = client(port(2), "/rooms/news", true);
  wait_for_clients(port(2), 1);
  EXPECT_EQ(api_request(port(0), "POST", "/api/rooms/news/messages", good_auth, "text/plain", "extra").status, 202u);
  EXPECT_EQ(raw->read(), text_message("extra"));
  auto envelope = read_json(*v1);
  EXPECT_EQ(envelope["data"], "extra");
  EXPECT_EQ(envelope["from"], json({{"user", "api"}}));
  EXPECT_EQ(envelope["room"], "news");
}

TEST_F(ApiCluster, ARemovedUserIsClosedOnEveryNode) {
  temp_file secret{std::string{test_jwt_secret}};
  start({"--auth-jwt-key", secret.path()});
  const auto alice = make_test_token("alice", "Alice");
  std::vector<std::unique_ptr<ws_client>> removed;
  removed.push_back(client(port(0), "/rooms/lobby?token=" + alice, false));
  removed.push_back(client(port(1), "/rooms/lobby?token=" + alice, true));
  removed.push_back(client(port(2), "/rooms/lobby?token=" + alice, false));
  removed.push_back(client(port(2), "/rooms/lobby?token=" + alice, true));
  auto bob = client(port(2), "/rooms/lobby?token=" + make_test_token("bob"), false);
  auto alice_elsewhere = client(port(1), "/rooms/other?token=" + alice, false);
  wait_for_clients(port(0), 1);
  wait_for_clients(port(1), 2);
  wait_for_clients(port(2), 3);

  EXPECT_EQ(api_request(port(0), "DELETE", "/api/rooms/lobby/users/alice", good_auth).status, 202u);
  for (auto& c : removed) {
    auto result = c->read_close_code();
    ASSERT_TRUE(result.code.has_value());
    EXPECT_EQ(*result.code, 4003);
  }
  EXPECT_EQ(wait_for_metric(port(2), "chat_connections_closed_total{reason=\"removed\"}", 2.0), 2.0);
  // Bob, and Alice in another room, stay.
  EXPECT_EQ(api_request(port(1), "POST", "/api/rooms/lobby/messages", good_auth, "text/plain", "bob?").status, 202u);
  EXPECT_EQ(bob->read(), text_message("bob?"));
  EXPECT_EQ(api_request(port(2), "POST", "/api/rooms/other/messages", good_auth, "text/plain", "alice?").status, 202u);
  EXPECT_EQ(alice_elsewhere->read(), text_message("alice?"));
}

} // namespace
} // namespace chatd::itest
