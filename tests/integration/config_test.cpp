#include "chatd_process.hpp"
#include "wait_until.hpp"
#include "ws_client.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address_v4.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <gtest/gtest.h>

#include <regex>
#include <string>
#include <vector>

namespace chatd::itest {
namespace {

using namespace std::chrono_literals;

constexpr auto exit_timeout = 10s;

std::size_t count_occurrences(const std::string& text, std::string_view needle) {
  std::size_t count = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1))
    ++count;
  return count;
}

TEST(Config, HelpPrintsUsageAndExitsZero) {
  const chatd_exit run = chatd_process::run_to_exit({.args = {"--help"}}, exit_timeout);
  EXPECT_EQ(run.status, 0);
  for (const char* flag : {"--port", "--bind", "--threads", "--tick", "--node-id", "--max-message-bytes",
                           "--max-queue-bytes", "--idle-timeout"}) {
    EXPECT_NE(run.output.find(flag), std::string::npos) << flag << " missing from:\n" << run.output;
  }
}

TEST(Config, VersionPrintsAVersionAndExitsZero) {
  const chatd_exit run = chatd_process::run_to_exit({.args = {"--version"}}, exit_timeout);
  EXPECT_EQ(run.status, 0);
  EXPECT_TRUE(std::regex_search(run.output, std::regex(R"(\d+\.\d+\.\d+)"))) << run.output;
}

TEST(Config, BadFlagValuesExitNonZeroWithAMessage) {
  const std::vector<std::vector<std::string>> cases{
      {"--tick", "banana"},
      {"--port", "70000"},
      {"--port", "-1"},
      {"--idle-timeout", "soon"},
      {"--max-queue-bytes", "lots"},
      {"--max-message-bytes", "12abc"},
      {"--no-such-flag"},
      {"--allowed-origins", "chat.example.com"},
      {"--allowed-origins", ","},
      {"--max-messages-per-second", "-5"},
      {"--max-connections", "many"},
      {"--max-handshakes-per-second", "fast"},
  };
  for (const auto& args : cases) {
    SCOPED_TRACE(args.front() + (args.size() > 1 ? " " + args.back() : ""));
    const chatd_exit run = chatd_process::run_to_exit({.args = args}, exit_timeout);
    ASSERT_TRUE(run.status.has_value()) << "still running after the timeout:\n" << run.output;
    EXPECT_NE(*run.status, 0) << run.output;
    EXPECT_LT(*run.status, 128) << "killed by a signal:\n" << run.output;
    EXPECT_FALSE(run.output.empty());
    EXPECT_EQ(run.output.find("listening on"), std::string::npos) << run.output;
  }
}

TEST(Config, BadEnvironmentValueExitsNonZero) {
  const chatd_exit run = chatd_process::run_to_exit({.env = {"CHATD_TICK=banana"}}, exit_timeout);
  ASSERT_TRUE(run.status.has_value()) << "still running after the timeout:\n" << run.output;
  EXPECT_NE(*run.status, 0) << run.output;
  EXPECT_LT(*run.status, 128) << "killed by a signal:\n" << run.output;
}

TEST(Config, PortInUseExitsNonZeroSayingSo) {
  namespace asio = boost::asio;
  asio::io_context ioc;
  // No SO_REUSEADDR/SO_REUSEPORT: chatd must not be able to share this port.
  asio::ip::tcp::acceptor blocker(ioc);
  blocker.open(asio::ip::tcp::v4());
  blocker.bind({asio::ip::address_v4::loopback(), 0});
  blocker.listen();
  const std::string port = std::to_string(blocker.local_endpoint().port());

  const chatd_exit run = chatd_process::run_to_exit({.args = {"--port", port}}, exit_timeout);
  ASSERT_TRUE(run.status.has_value()) << "still running after the timeout:\n" << run.output;
  EXPECT_NE(*run.status, 0) << run.output;
  EXPECT_LT(*run.status, 128) << "killed by a signal:\n" << run.output;
  EXPECT_NE(run.output.find("in use"), std::string::npos) << run.output;
}

TEST(Config, TickFromTheEnvironment) {
  chatd_process chatd(chatd_options{.env = {"CHATD_TICK=200ms"}});
  // The 3 s default would log at most one line in this time.
  std::size_t lines = 0;
  EXPECT_TRUE(
      wait_until([&] { return (lines = count_occurrences(chatd.log_text(), "connected-count=")) >= 3; }, 2500ms))
      << lines << " ticker lines";
}

TEST(Config, EverySettingFromTheEnvironmentWithoutFlags) {
  chatd_process chatd(chatd_options{.env = {"CHATD_PORT=0", "CHATD_BIND=127.0.0.1", "CHATD_TICK=200ms",
                                            "CHATD_MAX_MESSAGE_BYTES=1024", "CHATD_THREADS=2"},
                                    .listen_defaults = false});
  EXPECT_TRUE(chatd.wait_for_log("connected-count=", 2s));

  ws_client client;
  client.connect(chatd.port(), "/");
  client.send_binary(std::string(1024, 'k'));
  EXPECT_EQ(client.read(), binary_message(std::string(1024, 'k')));
  client.send_binary(std::string(1025, 'k'));
  EXPECT_EQ(client.read_close_code().code, 1009);
}

TEST(Config, NodeIdFlagAppearsInTheLog) {
  chatd_process chatd({"--node-id", "itest-node-42", "--tick", "200ms"});
  EXPECT_TRUE(chatd.wait_for_log("itest-node-42", 5s));
}

} // namespace
} // namespace chatd::itest
