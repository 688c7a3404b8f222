#include "chatd_process.hpp"
#include "http_probe.hpp"
#include "metrics_scrape.hpp"
#include "ws_client.hpp"

#include <boost/asio/error.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <gtest/gtest.h>

#include <sys/resource.h>

#include <cstdio>
#include <exception>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace chatd::itest {
namespace {

using namespace std::chrono_literals;

bool is_tcp_close(boost::system::error_code ec) {
  return ec == boost::asio::error::eof || ec == boost::asio::error::connection_reset ||
         ec == boost::asio::error::broken_pipe;
}

TEST(Limits, OversizeMessageIsClosedWith1009AndOthersKeepWorking) {
  chatd_process chatd({"--max-message-bytes", "1024"});
  ws_client big_binary, big_text, other;
  big_binary.connect(chatd.port(), "/");
  big_text.connect(chatd.port(), "/");
  other.connect(chatd.port(), "/");
  ASSERT_EQ(wait_for_metric(chatd.port(), "chat_connections", 3), 3.0);

  // Exactly the limit is allowed.
  const std::string at_limit(1024, 'x');
  big_binary.send_binary(at_limit);
  for (ws_client* client : {&big_binary, &big_text, &other})
    EXPECT_EQ(client->read(), binary_message(at_limit));

  big_binary.send_binary(std::string(1025, 'y'));
  const close_result binary_closed = big_binary.read_close_code();
  EXPECT_EQ(binary_closed.code, 1009) << binary_closed.error.message();
  EXPECT_EQ(binary_closed.messages_before_close, 0u);

  big_text.send_text(std::string(4000, 'z'));
  const close_result text_closed = big_text.read_close_code();
  EXPECT_EQ(text_closed.code, 1009) << text_closed.error.message();
  EXPECT_EQ(text_closed.messages_before_close, 0u);

  // Neither oversize message reached anyone; the survivor still chats.
  other.send_text("still here");
  EXPECT_EQ(other.read(), text_message("still here"));
  EXPECT_EQ(wait_for_metric(chatd.port(), "chat_connections", 1), 1.0);
}

TEST(Limits, TextThatIsNotUtf8IsClosedWith1007AndNeverBroadcast) {
  chatd_process chatd;
  ws_client cut_short, overlong, other;
  for (ws_client* client : {&cut_short, &overlong, &other})
    client->connect(chatd.port(), "/");
  ASSERT_EQ(wait_for_metric(chatd.port(), "chat_connections", 3), 3.0);

  // A message that ends inside a character, with an empty last frame (the
  // case Beast's own check misses), and an overlong encoding of '/'.
  cut_short.send_text_fragments({"ok \xE2", ""});
  overlong.send_text("\xC0\xAF");
  for (ws_client* client : {&cut_short, &overlong}) {
    const close_result closed = client->read_close_code();
    EXPECT_EQ(closed.code, 1007) << closed.error.message();
    EXPECT_EQ(closed.messages_before_close, 0u);
  }
  // Valid text in pieces is fine, multi-byte characters included.
  other.send_text_fragments({"gr\xC3", "\xBC\xC3\x9F", "e \xE2\x82\xAC"});
  EXPECT_EQ(other.read(), text_message("gr\xC3\xBC\xC3\x9F"
                                       "e \xE2\x82\xAC"));
  EXPECT_EQ(wait_for_metric(chatd.port(), "chat_connections_closed_total{reason=\"protocol_error\"}", 2), 2.0);
}

TEST(Limits, SlowConsumerIsClosedWhileOthersReceiveEverything) {
  constexpr int message_count = 400;
  constexpr std::size_t message_bytes = 32 * 1024;
  // 12.5 MiB in total: far more than the 256 KiB queue plus what the
  // kernel buffers (tcp_wmem max 4 MiB, a 4 KiB receive buffer) can hold.
  // Over the bound the room's publishers wait (here: the sender) until the
  // client that never reads is closed, one grace period later.
  chatd_process chatd({"--max-queue-bytes", "262144", "--slow-consumer-grace", "1s"});
  const unsigned short port = chatd.port();

  ws_client slow;
  slow.set_receive_buffer(4096);
  slow.connect(port, "/");
  ws_client sender, reader;
  sender.connect(port, "/");
  reader.connect(port, "/");
  ASSERT_EQ(wait_for_metric(port, "chat_connections", 3), 3.0);

  const auto payload = [](int seq) {
    std::string data(message_bytes, static_cast<char>(seq % 251));
    char tag[16];
    const int length = std::snprintf(tag, sizeof tag, "#%06d#", seq);
    data.replace(0, static_cast<std::size_t>(length), tag);
    return data;
  };

  // Sender and reader go in lock step, so neither of them is ever more than
  // one message behind: only the client that never reads may overflow.
  for (int seq = 0; seq < message_count; ++seq) {
    const ws_message expected = binary_message(payload(seq));
    sender.send_binary(expected.data);
    ASSERT_EQ(sender.read(), expected) << "sender's own copy of " << seq;
    ASSERT_EQ(reader.read(), expected) << "reader's copy of " << seq;
  }

  EXPECT_EQ(wait_for_metric(port, "chat_slow_consumer_closes_total", 1), 1.0);
  EXPECT_EQ(wait_for_metric(port, "chat_connections", 2), 2.0);

  // What was buffered before the close may still be read; then the end.
  const close_result closed = slow.read_close_code(message_count);
  EXPECT_TRUE(closed.code == 1008 || (!closed.code && is_tcp_close(closed.error)))
      << "close code " << closed.code.value_or(0) << ", " << closed.error.message();
  EXPECT_LT(closed.messages_before_close, static_cast<std::size_t>(message_count));

  sender.send_text("after the slow one");
  EXPECT_EQ(sender.read(), text_message("after the slow one"));
  EXPECT_EQ(reader.read(), text_message("after the slow one"));
  EXPECT_EQ(wait_for_metric(port, "chat_slow_consumer_closes_total", 1), 1.0);
}

TEST(Limits, IdleClientIsDisconnectedWhileAReadingClientStays) {
  chatd_process chatd({"--idle-timeout", "1s"});
  const unsigned short port = chatd.port();

  // Beast answers pings only while a read is pending: `idle` never reads.
  ws_client idle;
  idle.connect(port, "/");
  ws_client live(30s);
  live.connect(port, "/");
  ASSERT_EQ(wait_for_metric(port, "chat_connections", 2), 2.0);

  ws_message live_got;
  std::string live_error;
  std::jthread live_reader([&] {
    try {
      live_got = live.read();
    } catch (const std::exception& e) {
      live_error = e.what();
    }
  });

  EXPECT_EQ(wait_for_metric(port, "chat_connections", 1, 15s), 1.0);
  // Absence of a close cannot be awaited: give the live client several
  // more idle periods in which it would have been closed.
  std::this_thread::sleep_for(3s);

  ws_client poker;
  poker.connect(port, "/");
  poker.send_text("wake up");
  EXPECT_EQ(poker.read(), text_message("wake up"));
  live_reader.join();
  EXPECT_EQ(live_got, text_message("wake up")) << live_error;
  EXPECT_EQ(wait_for_metric(port, "chat_connections", 2), 2.0);

  const close_result closed = idle.read_close_code();
  EXPECT_NE(closed.error, boost::asio::error::timed_out);
  EXPECT_TRUE(closed.code || is_tcp_close(closed.error)) << closed.error.message();
}

// Out of descriptors, accept fails: the server must neither spin nor stop
// accepting, and serve again once descriptors are free.
TEST(Limits, RunningOutOfDescriptorsPausesAcceptingAndRecovers) {
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  rlimit low = saved;
  low.rlim_cur = 48; // chatd inherits this at fork
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  std::unique_ptr<chatd_process> chatd;
  try {
    chatd = std::make_unique<chatd_process>(std::vector<std::string>{"--threads", "1"});
  } catch (...) {
    ::setrlimit(RLIMIT_NOFILE, &saved);
    throw;
  }
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &saved), 0);

  const auto log_start = chatd->log_size();
  {
    boost::asio::io_context ioc;
    std::vector<boost::asio::ip::tcp::socket> flood;
    for (int i = 0; i < 80; ++i) {
      flood.emplace_back(ioc);
      flood.back().connect({boost::asio::ip::address_v4::loopback(), chatd->port()});
    }
    ASSERT_TRUE(chatd->wait_for_log("accept failed", 10s, log_start));
    // Hold the descriptors a while: a loop that retried at once instead of
    // pausing would fail thousands of times here, not a handful.
    std::this_thread::sleep_for(500ms);
  }
  // Scraped once descriptors are free again; the count stops growing then.
  const auto failures = metric_value(http_get(chatd->port(), "/metrics").body, "chat_accept_failures_total");
  ASSERT_TRUE(failures.has_value());
  EXPECT_GE(*failures, 1.0);
  EXPECT_LT(*failures, 50.0);
  // The flood is gone: a new client is accepted and served.
  ws_client client;
  client.connect(chatd->port(), "/");
  client.send_text("after the flood");
  EXPECT_EQ(client.read(), text_message("after the flood"));
}

} // namespace
} // namespace chatd::itest
