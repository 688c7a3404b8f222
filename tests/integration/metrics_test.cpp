#include "chatd_process.hpp"
#include "http_probe.hpp"
#include "metrics_scrape.hpp"
#include "ws_client.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <iterator>
#include <regex>
#include <vector>

namespace chatd::itest {
namespace {

using namespace std::chrono_literals;

TEST(MetricsParsing, ReadsPlainAndLabelledLines) {
  const char* exposition = "# HELP chat_connections current\n"
                           "# TYPE chat_connections gauge\n"
                           "chat_connections 3\n"
                           "chat_connections_accepted_total{node=\"n1\"} 7\n"
                           "chat_messages_delivered_total{node=\"n1\",loop=\"0\"} 2\n"
                           "chat_messages_delivered_total{node=\"n1\",loop=\"1\"} 5.000000\n";
  EXPECT_EQ(metric_value(exposition, "chat_connections"), 3.0);
  EXPECT_EQ(metric_value(exposition, "chat_connections_accepted_total"), 7.0);
  EXPECT_EQ(metric_value(exposition, "chat_messages_delivered_total"), 7.0);
  EXPECT_EQ(metric_value(exposition, "chat_connections_accepted"), std::nullopt);
  EXPECT_EQ(metric_value(exposition, "chat_slow_consumer_closes_total"), std::nullopt);
}

TEST(Metrics, ConnectionsGaugeFollowsClientsComingAndGoing) {
  chatd_process chatd({"--threads", "2"});
  {
    ws_client a, b, c;
    a.connect(chatd.port(), "/");
    b.connect(chatd.port(), "/rooms/x");
    c.connect(chatd.port(), "/");
    EXPECT_EQ(wait_for_metric(chatd.port(), "chat_connections", 3), 3.0);

    a.close();
    EXPECT_EQ(wait_for_metric(chatd.port(), "chat_connections", 2), 2.0);
    b.drop(); // no close frame: the server must notice the TCP close too
    EXPECT_EQ(wait_for_metric(chatd.port(), "chat_connections", 1), 1.0);
    c.close();
  }
  EXPECT_EQ(wait_for_metric(chatd.port(), "chat_connections", 0), 0.0);
  EXPECT_EQ(wait_for_metric(chatd.port(), "chat_connections_accepted_total", 3), 3.0);
}

TEST(Metrics, CountersAreExactForAKnownExchange) {
  chatd_process chatd({"--threads", "2"});
  const unsigned short port = chatd.port();
  EXPECT_EQ(wait_for_metric(port, "chat_connections_accepted_total", 0), 0.0);

  ws_client a, b, c;
  a.connect(port, "/");
  b.connect(port, "/");
  c.connect(port, "/");
  ASSERT_EQ(wait_for_metric(port, "chat_connections", 3), 3.0);
  EXPECT_EQ(wait_for_metric(port, "chat_connections_accepted_total", 3), 3.0);

  // 3 messages in, each delivered to the 3 members: 9 out.
  a.send_text("a1");
  a.send_binary("a2");
  b.send_text("b1");
  for (ws_client* client : {&a, &b, &c}) {
    std::vector<ws_message> got;
    for (int i = 0; i < 3; ++i)
      got.push_back(client->read());
    const auto position = [&got](const ws_message& message) {
      return std::distance(got.begin(), std::find(got.begin(), got.end(), message));
    };
    ASSERT_EQ(std::count(got.begin(), got.end(), text_message("b1")), 1);
    ASSERT_EQ(std::count(got.begin(), got.end(), text_message("a1")), 1);
    ASSERT_EQ(std::count(got.begin(), got.end(), binary_message("a2")), 1);
    EXPECT_LT(position(text_message("a1")), position(binary_message("a2"))) << "a's messages out of order";
  }
  EXPECT_EQ(wait_for_metric(port, "chat_messages_received_total", 3), 3.0);
  EXPECT_EQ(wait_for_metric(port, "chat_messages_delivered_total", 9), 9.0);
  EXPECT_EQ(wait_for_metric(port, "chat_slow_consumer_closes_total", 0), 0.0);
  // Plain HTTP scrapes are not WebSocket connections.
  EXPECT_EQ(wait_for_metric(port, "chat_connections_accepted_total", 3), 3.0);
}

TEST(Ticker, LogsThisNodesConnectedCountEveryTick) {
  chatd_process chatd({"--tick", "200ms"});
  const std::regex zero(R"(connected-count=0\b)");
  EXPECT_TRUE(chatd.wait_for_log(zero, 5s));

  ws_client a, b;
  a.connect(chatd.port(), "/");
  b.connect(chatd.port(), "/rooms/other");
  EXPECT_TRUE(chatd.wait_for_log(std::regex(R"(connected-count=2\b)"), 5s));

  std::size_t from = chatd.log_size();
  a.close();
  EXPECT_TRUE(chatd.wait_for_log(std::regex(R"(connected-count=1\b)"), 5s, from));

  from = chatd.log_size();
  b.close();
  EXPECT_TRUE(chatd.wait_for_log(zero, 5s, from));
}

} // namespace
} // namespace chatd::itest
