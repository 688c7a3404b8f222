// Who gets in: --allowed-origins, --max-connections, --max-messages-per-second
// and --max-handshakes-per-second, each against a real chatd process.
#include "chatd_process.hpp"
#include "http_probe.hpp"
#include "metrics_scrape.hpp"
#include "ws_client.hpp"

#include <boost/asio/error.hpp>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace chatd::itest {
namespace {

using namespace std::chrono_literals;

double refused(unsigned short port, const std::string& reason, double expected) {
  return wait_for_metric(port, "chat_connections_refused_total{reason=\"" + reason + "\"}", expected).value_or(-1);
}

TEST(Admission, DisallowedOriginGets403AndAllowedOnesConnect) {
  chatd_process chatd({"--allowed-origins", "https://chat.example, http://localhost:9000"});
  ws_client evil, allowed, other_case, no_origin;
  evil.set_origin("https://evil.example");
  EXPECT_EQ(evil.try_connect(chatd.port(), "/"), 403u);
  allowed.set_origin("http://localhost:9000");
  EXPECT_EQ(allowed.try_connect(chatd.port(), "/rooms/a"), 101u);
  // Scheme and host compare without regard to case; a trailing slash is no different.
  other_case.set_origin("HTTPS://Chat.Example/");
  EXPECT_EQ(other_case.try_connect(chatd.port(), "/rooms/a"), 101u);
  // Non-browser clients send no Origin; the check is there for browsers.
  EXPECT_EQ(no_origin.try_connect(chatd.port(), "/rooms/a"), 101u);
  EXPECT_EQ(refused(chatd.port(), "origin", 1), 1.0);

  allowed.send_text("in");
  for (ws_client* client : {&allowed, &other_case, &no_origin})
    EXPECT_EQ(client->read(), text_message("in"));
  EXPECT_TRUE(chatd.wait_for_log("refused 127.0.0.1: origin https://evil.example", 5s)) << chatd.log_text();
}

TEST(Admission, OverTheConnectionLimitGets503UntilOneLeaves) {
  chatd_process chatd({"--max-connections", "2", "--threads", "2"});
  ws_client first, second, third;
  first.connect(chatd.port(), "/");
  second.connect(chatd.port(), "/rooms/other");
  EXPECT_EQ(third.try_connect(chatd.port(), "/"), 503u);
  EXPECT_EQ(refused(chatd.port(), "max_connections", 1), 1.0);
  // Plain HTTP is not a WebSocket connection and is still served.
  EXPECT_EQ(wait_for_metric(chatd.port(), "chat_connections", 2), 2.0);

  first.close();
  ASSERT_EQ(wait_for_metric(chatd.port(), "chat_connections", 1), 1.0);
  ws_client fourth;
  EXPECT_EQ(fourth.try_connect(chatd.port(), "/"), 101u);
  fourth.send_text("room for one more");
  EXPECT_EQ(fourth.read(), text_message("room for one more"));
}

TEST(Admission, FlooderIsClosedWith1008WhileOthersAreUnaffected) {
  constexpr int rate = 50;
  chatd_process chatd({"--max-messages-per-second", std::to_string(rate), "--threads", "2"});
  ws_client flooder, polite, listener;
  for (ws_client* client : {&flooder, &polite, &listener})
    client->connect(chatd.port(), "/");
  ASSERT_EQ(wait_for_metric(chatd.port(), "chat_connections", 3), 3.0);

  // A full burst's worth is fine; far past it is not.
  try {
    for (int i = 0; i < 10 * rate; ++i)
      flooder.send_text("flood");
  } catch (const boost::system::system_error&) {
    // The server may hang up before the whole flood is written.
  }
  const close_result closed = flooder.read_close_code();
  EXPECT_EQ(closed.code, 1008) << closed.error.message();
  EXPECT_EQ(wait_for_metric(chatd.port(), "chat_connections_closed_total{reason=\"rate_limit\"}", 1), 1.0);

  // Everyone else: every message of the polite client arrives, and of the
  // flood at most what the bucket let through (the rest was never published).
  // Messages of different senders may interleave any way: flood messages can
  // still be on their way from another loop when the polite ones are in.
  for (int i = 0; i < 10; ++i)
    polite.send_text("polite " + std::to_string(i));
  int flood_seen = 0, polite_seen = 0;
  while (polite_seen < 10) {
    const ws_message message = listener.read();
    if (message.data == "flood") {
      ++flood_seen;
      continue;
    }
    EXPECT_EQ(message, text_message("polite " + std::to_string(polite_seen)));
    ++polite_seen;
  }
  // One burst for sure, plus what the bucket refilled while a slow
  // (sanitized) server read the flood.
  EXPECT_LE(flood_seen, 2 * rate);
  const double published =
      metric_value(http_get(chatd.port(), "/metrics").body, "chat_messages_received_total").value_or(-1);
  EXPECT_GE(published, rate + 10.0);
  EXPECT_LE(published, 2 * rate + 10.0);
  EXPECT_EQ(wait_for_metric(chatd.port(), "chat_connections", 2), 2.0);
}

TEST(Admission, HandshakeStormIsAnsweredWith1013) {
  constexpr int rate = 5, storm = 40;
  chatd_process chatd({"--max-handshakes-per-second", std::to_string(rate)});
  std::vector<std::unique_ptr<ws_client>> clients;
  for (int i = 0; i < storm; ++i) {
    clients.push_back(std::make_unique<ws_client>(300ms));
    ASSERT_EQ(clients.back()->try_connect(chatd.port(), "/"), 101u);
  }
  int told_to_wait = 0;
  for (auto& client : clients) {
    // The others get 1013 at once; admitted clients hear nothing, time out
    // and hang up.
    const close_result result = client->read_close_code();
    if (result.code == 1013)
      ++told_to_wait;
    else
      EXPECT_EQ(result.error, boost::asio::error::timed_out) << result.error.message();
  }
  // The burst is `rate`; a few more tokens may have come in while connecting.
  EXPECT_GE(told_to_wait, storm - 3 * rate);
  EXPECT_LE(told_to_wait, storm - rate);
  EXPECT_EQ(refused(chatd.port(), "handshake_rate", told_to_wait), told_to_wait);
  // Refused clients never joined: only the admitted ones count as connections.
  EXPECT_EQ(wait_for_metric(chatd.port(), "chat_connections_accepted_total", storm - told_to_wait),
            storm - told_to_wait);
  EXPECT_EQ(wait_for_metric(chatd.port(), "chat_connections_closed_total", storm - told_to_wait), storm - told_to_wait);

  // Once the storm has passed, clients get in again.
  std::this_thread::sleep_for(1s);
  ws_client later;
  later.connect(chatd.port(), "/");
  later.send_text("calm again");
  EXPECT_EQ(later.read(), text_message("calm again"));
}

} // namespace
} // namespace chatd::itest
