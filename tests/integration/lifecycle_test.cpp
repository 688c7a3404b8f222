#include "chatd_process.hpp"
#include "metrics_scrape.hpp"
#include "ws_client.hpp"

#include <gtest/gtest.h>

#include <csignal>

namespace chatd::itest {
namespace {

using namespace std::chrono_literals;

constexpr std::uint16_t going_away = 1001;

void expect_graceful_shutdown_on(int signo) {
  chatd_process chatd({"--threads", "2"});
  ws_client a, b, c;
  a.connect(chatd.port(), "/");
  b.connect(chatd.port(), "/");
  c.connect(chatd.port(), "/rooms/elsewhere");
  ASSERT_EQ(wait_for_metric(chatd.port(), "chat_connections", 3), 3.0);

  const auto signalled = std::chrono::steady_clock::now();
  chatd.send_signal(signo);
  for (ws_client* client : {&a, &b, &c}) {
    const close_result closed = client->read_close_code();
    EXPECT_EQ(closed.code, going_away) << closed.error.message();
    EXPECT_EQ(closed.messages_before_close, 0u);
  }
  EXPECT_EQ(chatd.wait_exit(10s), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - signalled, 10s);
}

TEST(Lifecycle, SigtermClosesEveryClientWith1001AndExitsZero) { expect_graceful_shutdown_on(SIGTERM); }

TEST(Lifecycle, SigintClosesEveryClientWith1001AndExitsZero) { expect_graceful_shutdown_on(SIGINT); }

TEST(Lifecycle, SigtermWithoutClientsExitsZero) {
  chatd_process chatd;
  chatd.send_signal(SIGTERM);
  EXPECT_EQ(chatd.wait_exit(10s), 0);
}

} // namespace
} // namespace chatd::itest
