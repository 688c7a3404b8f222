#include "chatd_process.hpp"
#include "http_probe.hpp"
#include "metrics_scrape.hpp"
#include "ws_client.hpp"

#include <boost/asio/error.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <string>
#include <vector>

namespace chatd::itest {
namespace {

using namespace std::chrono_literals;

std::string lowercase(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

// The server keeps serving: HTTP answers and a WebSocket round trip works.
void expect_still_serving(unsigned short port) {
  EXPECT_EQ(http_get(port, "/healthz").status, 200u);
  ws_client client;
  client.connect(port, "/");
  client.send_text("still serving");
  EXPECT_EQ(client.read(), text_message("still serving"));
}

TEST(Http, HealthzAnswers200) {
  chatd_process chatd;
  EXPECT_EQ(http_get(chatd.port(), "/healthz").status, 200u);
}

TEST(Http, RootWithoutUpgradeServesTheChatPage) {
  chatd_process chatd;
  const http_response page = http_get(chatd.port(), "/");
  EXPECT_EQ(page.status, 200u);
  EXPECT_TRUE(lowercase(page.content_type).starts_with("text/html")) << page.content_type;
  EXPECT_NE(lowercase(page.body).find("<html"), std::string::npos) << page.body;
}

TEST(Http, MetricsExposeTheContractMetricsAtZeroOnAFreshServer) {
  chatd_process chatd;
  const http_response metrics = http_get(chatd.port(), "/metrics");
  ASSERT_EQ(metrics.status, 200u);
  EXPECT_TRUE(metrics.content_type.starts_with("text/plain")) << metrics.content_type;
  for (const char* name : {"chat_connections", "chat_connections_accepted_total", "chat_messages_received_total",
                           "chat_messages_delivered_total", "chat_slow_consumer_closes_total"}) {
    EXPECT_EQ(metric_value(metrics.body, name), 0.0) << name << " in:\n" << metrics.body;
  }
}

TEST(Http, UnknownPathsAnswer404) {
  chatd_process chatd;
  for (const char* target : {"/nope", "/healthzz", "/metrics/extra", "/index.html.bak"}) {
    EXPECT_EQ(http_get(chatd.port(), target).status, 404u) << target;
  }
}

TEST(Http, UpgradeOnAnUnknownPathAnswers404) {
  chatd_process chatd;
  for (const char* target : {"/nope", "/chat", "/room/a"}) {
    ws_client client;
    EXPECT_EQ(client.try_connect(chatd.port(), target), 404u) << target;
  }
}

TEST(Http, InvalidRoomNamesAnswer400BeforeAnyUpgrade) {
  chatd_process chatd;
  const std::vector<std::string> targets{
      "/rooms/bad%20name", "/rooms/",         "/rooms/" + std::string(65, 'x'),
      "/rooms/a/b",        "/rooms/bad!name", "/rooms/caf%C3%A9",
  };
  for (const auto& target : targets) {
    ws_client client;
    EXPECT_EQ(client.try_connect(chatd.port(), target), 400u) << target;
  }
  // None of them became a connection.
  EXPECT_EQ(wait_for_metric(chatd.port(), "chat_connections_accepted_total", 0), 0.0);
  EXPECT_EQ(wait_for_metric(chatd.port(), "chat_connections", 0), 0.0);
  expect_still_serving(chatd.port());
}

TEST(Http, ValidRoomNamesUpgrade) {
  chatd_process chatd;
  const std::string longest = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._";
  ASSERT_EQ(longest.size(), 64u);
  const std::vector<std::string> names{"a", longest, "A.b_c-9", "-", "..."};
  for (const auto& name : names) {
    ws_client client;
    ASSERT_EQ(client.try_connect(chatd.port(), "/rooms/" + name), 101u) << name;
    client.send_text("in " + name);
    EXPECT_EQ(client.read(), text_message("in " + name));
  }
}

TEST(Http, MalformedRequestsAnswer400AndTheServerKeepsServing) {
  chatd_process chatd;
  for (const char* request : {"GARBAGE\r\n\r\n", "GET / HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n"}) {
    SCOPED_TRACE(request);
    const raw_reply reply = raw_exchange(chatd.port(), request);
    EXPECT_TRUE(reply.data.starts_with("HTTP/1.1 400")) << reply.data;
    // After a parse error the connection is unusable: the server must close it, not hang.
    EXPECT_TRUE(reply.end == boost::asio::error::eof || reply.end == boost::asio::error::connection_reset)
        << reply.end.message();
  }
  expect_still_serving(chatd.port());
}

} // namespace
} // namespace chatd::itest
