// One order per room, history and resume, with a real chatd and real
// WebSocket clients (README "Order, history and resume").
#include "chatd_process.hpp"
#include "http_probe.hpp"
#include "metrics_scrape.hpp"
#include "v1_helpers.hpp"
#include "ws_client.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace chatd::itest {
namespace {

using json = nlohmann::json;

double scrape(unsigned short port, const std::string& name) {
  return metric_value(http_get(port, "/metrics").body, name).value_or(-1);
}

TEST(History, ManyInterleavedPublishersOnEveryLoopGiveEveryMemberOneOrder) {
  chatd_process chatd({"--threads", "2"});
  constexpr int members = 10, each = 200;
  std::vector<std::unique_ptr<ws_client>> clients;
  for (int i = 0; i < members; ++i)
    clients.push_back(v1_client(chatd.port(), "/rooms/order"));
  ASSERT_EQ(wait_for_metric(chatd.port(), "chat_connections", members), members);
  {
    std::vector<std::jthread> writers;
    for (int i = 0; i < members; ++i)
      writers.emplace_back([&, i] {
        for (int n = 0; n < each; ++n)
          clients[i]->send_text(publish(i * 1000 + n));
      });
  }
  std::vector<json> first;
  for (int i = 0; i < members; ++i) {
    std::vector<json> seen;
    std::string epoch;
    for (int n = 1; n <= members * each; ++n) {
      auto m = next(*clients[i]);
      ASSERT_EQ(m["type"], "message");
      ASSERT_EQ(m["offset"], n) << "client " << i;
      if (epoch.empty())
        epoch = m["epoch"];
      ASSERT_EQ(m["epoch"], epoch);
      seen.push_back(m["data"]);
    }
    if (i == 0)
      first = seen;
    else
      EXPECT_EQ(seen, first) << "client " << i << " saw another order";
  }
}

TEST(History, AClientThatReconnectsWithSinceGetsWhatItMissedThenLiveMessages) {
  chatd_process chatd({"--threads", "2"});
  auto publisher = v1_client(chatd.port(), "/rooms/r");
  auto leaver = v1_client(chatd.port(), "/rooms/r");
  ASSERT_EQ(wait_for_metric(chatd.port(), "chat_connections", 2), 2);
  publisher->send_text(publish(1));
  auto seen = next(*leaver);
  std::string epoch = seen["epoch"];
  EXPECT_EQ(seen["offset"], 1);
  leaver->close();
  leaver.reset();
  ASSERT_EQ(wait_for_metric(chatd.port(), "chat_connections", 1), 1);
  for (int n = 2; n <= 6; ++n)
    publisher->send_text(publish(n));
  for (int n = 1; n <= 6; ++n)
    next(*publisher);

  auto back = v1_client(chatd.port(), "/rooms/r?since=" + epoch + ":1");
  auto resumed = next(*back);
  EXPECT_EQ(resumed, json({{"type", "resumed"}, {"recovered", true}, {"epoch", epoch}, {"offset", 6}}));
  for (int n = 2; n <= 6; ++n) {
    auto m = next(*back);
    EXPECT_EQ(m["offset"], n);
    EXPECT_EQ(m["data"], n);
  }
  publisher->send_text(publish(7));
  EXPECT_EQ(next(*back)["offset"], 7);
  EXPECT_EQ(scrape(chatd.port(), "chat_resumes_total{recovered=\"true\"}"), 1);
}

TEST(History, AResumeFromOutOfHistoryOrAnotherEpochIsNotRecovered) {
  chatd_process chatd({"--history-size", "3"});
  auto publisher = v1_client(chatd.port(), "/rooms/r");
  ASSERT_EQ(wait_for_metric(chatd.port(), "chat_connections", 1), 1);
  for (int n = 1; n <= 8; ++n)
    publisher->send_text(publish(n));
  std::string epoch;
  for (int n = 1; n <= 8; ++n)
    epoch = next(*publisher)["epoch"];

  auto old = v1_client(chatd.port(), "/rooms/r?since=" + epoch + ":2");
  EXPECT_EQ(next(*old), json({{"type", "resumed"}, {"recovered", false}, {"epoch", epoch}, {"offset", 8}}));
  for (int n = 6; n <= 8; ++n)
    EXPECT_EQ(next(*old)["offset"], n); // the recent history

  auto other = v1_client(chatd.port(), "/rooms/r?since=0123456789ab-0-1:5&history=1");
  EXPECT_EQ(next(*other)["recovered"], false);
  EXPECT_EQ(next(*other)["offset"], 8);
  EXPECT_EQ(scrape(chatd.port(), "chat_resumes_total{recovered=\"false\"}"), 2);
}

TEST(History, AResumeThatWouldNotFitInOneAnswerIsNotRecoveredAndGetsTheNewestThatFit) {
  // One answer holds at most half of --max-queue-bytes: 32 KiB, three of
  // these 10 KiB messages in their envelopes.
  chatd_process chatd({"--max-queue-bytes", "64KiB", "--max-message-bytes", "16KiB"});
  auto publisher = v1_client(chatd.port(), "/rooms/r");
  ASSERT_EQ(wait_for_metric(chatd.port(), "chat_connections", 1), 1);
  const std::string big(10 * 1024, 'x');
  for (int n = 1; n <= 5; ++n)
    publisher->send_text(json{{"type", "publish"}, {"data", big + std::to_string(n)}}.dump());
  std::string epoch;
  for (int n = 1; n <= 5; ++n)
    epoch = next(*publisher)["epoch"];

  auto far = v1_client(chatd.port(), "/rooms/r?since=" + epoch + ":1");
  EXPECT_EQ(next(*far), json({{"type", "resumed"}, {"recovered", false}, {"epoch", epoch}, {"offset", 5}}));
  for (int n = 3; n <= 5; ++n) {
    auto m = next(*far);
    EXPECT_EQ(m["offset"], n);
    EXPECT_EQ(m["data"], big + std::to_string(n));
  }
  auto near = v1_client(chatd.port(), "/rooms/r?since=" + epoch + ":3");
  EXPECT_EQ(next(*near)["recovered"], true);
  EXPECT_EQ(next(*near)["offset"], 4);
  EXPECT_EQ(next(*near)["offset"], 5);
  publisher->send_text(publish(6));
  EXPECT_EQ(next(*far)["offset"], 6);
  EXPECT_EQ(next(*near)["offset"], 6);
}

TEST(History, AFirstConnectWithHistoryGetsTheLastMessages) {
  chatd_process chatd;
  auto publisher = v1_client(chatd.port(), "/rooms/r");
  ASSERT_EQ(wait_for_metric(chatd.port(), "chat_connections", 1), 1);
  for (int n = 1; n <= 4; ++n)
    publisher->send_text(publish(n));
  for (int n = 1; n <= 4; ++n)
    next(*publisher);
  auto joiner = v1_client(chatd.port(), "/rooms/r?history=2");
  EXPECT_EQ(next(*joiner)["data"], 3);
  EXPECT_EQ(next(*joiner)["data"], 4);
  publisher->send_text(publish(5));
  EXPECT_EQ(next(*joiner)["data"], 5);
  EXPECT_GT(scrape(chatd.port(), "chat_history_bytes"), 0);
  EXPECT_EQ(scrape(chatd.port(), "chat_history_messages"), 5);
}

TEST(History, RawClientsKeepTheirBytesAndGetNoHistory) {
  chatd_process chatd;
  auto v1 = v1_client(chatd.port(), "/rooms/r");
  ASSERT_EQ(wait_for_metric(chatd.port(), "chat_connections", 1), 1);
  v1->send_text(publish(1));
  next(*v1);
  ws_client raw;
  raw.connect(chatd.port(), "/rooms/r?history=5&since=x-0-1:0");
  raw.send_text("plain");
  EXPECT_EQ(raw.read(), text_message("plain")); // not the history, not an envelope
  ws_client other;                              // a raw client's query is not chatd's: not even a bad one
  other.connect(chatd.port(), "/rooms/r?history=lots&since=nocolon");
}

TEST(History, AMalformedSinceOrHistoryIsRefusedWith400) {
  chatd_process chatd;
  for (const char* target : {"/rooms/r?since=nocolon", "/rooms/r?since=e:x", "/rooms/r?history=lots"}) {
    ws_client c;
    c.set_subprotocol("chatd.v1");
    EXPECT_EQ(c.try_connect(chatd.port(), target), 400u) << target;
  }
  EXPECT_EQ(scrape(chatd.port(), "chat_connections_refused_total{reason=\"bad_query\"}"), 3);
  // And the server keeps serving.
  auto ok = v1_client(chatd.port(), "/rooms/r");
  ok->send_text(publish(1));
  EXPECT_EQ(next(*ok)["offset"], 1);
}

TEST(History, HistorySizeZeroKeepsNothingButStillOrders) {
  chatd_process chatd({"--history-size", "0"});
  auto a = v1_client(chatd.port(), "/rooms/r");
  ASSERT_EQ(wait_for_metric(chatd.port(), "chat_connections", 1), 1);
  a->send_text(publish(1));
  auto m = next(*a);
  EXPECT_EQ(m["offset"], 1);
  auto b = v1_client(chatd.port(), "/rooms/r?since=" + m["epoch"].get<std::string>() + ":0");
  EXPECT_EQ(next(*b)["recovered"], false);
  EXPECT_EQ(scrape(chatd.port(), "chat_history_messages"), 0);
}

} // namespace
} // namespace chatd::itest
