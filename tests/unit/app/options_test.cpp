#include "app/options.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <sstream>
#include <vector>

using namespace std::chrono_literals;

namespace {

struct parsed {
  std::optional<int> exit_code;
  chatd::app::options opts;
  std::string out, err;
};

parsed parse(std::vector<const char*> args) {
  args.insert(args.begin(), "chatd");
  parsed p;
  std::ostringstream out, err;
  p.exit_code = chatd::app::parse_options(static_cast<int>(args.size()), args.data(), p.opts, out, err);
  p.out = out.str();
  p.err = err.str();
  return p;
}

} // namespace

TEST(options, defaults_match_the_contract) {
  auto p = parse({});
  ASSERT_FALSE(p.exit_code) << p.err;
  EXPECT_EQ(p.opts.server.port, 9000);
  EXPECT_EQ(p.opts.server.bind, "0.0.0.0");
  EXPECT_GE(p.opts.server.threads, 1u);
  EXPECT_EQ(p.opts.tick, 3s);
  EXPECT_FALSE(p.opts.server.node_id.empty());
  EXPECT_EQ(p.opts.server.max_message_bytes, 65536u);
  EXPECT_EQ(p.opts.server.max_queue_bytes, 1048576u);
  EXPECT_EQ(p.opts.server.hard_queue_bytes, 16u << 20);
  EXPECT_EQ(p.opts.server.slow_consumer_grace, 5s);
  EXPECT_EQ(p.opts.server.idle_timeout, 60s);
}

TEST(options, the_hard_queue_bound_follows_a_large_soft_one_unless_given) {
  auto large = parse({"--max-queue-bytes", "8MiB"});
  ASSERT_FALSE(large.exit_code) << large.err;
  EXPECT_EQ(large.opts.server.hard_queue_bytes, 32u << 20);
  auto given = parse({"--max-queue-bytes", "8MiB", "--max-queue-bytes-hard", "9MiB", "--slow-consumer-grace", "250ms"});
  ASSERT_FALSE(given.exit_code) << given.err;
  EXPECT_EQ(given.opts.server.hard_queue_bytes, 9u << 20);
  EXPECT_EQ(given.opts.server.slow_consumer_grace, 250ms);
}

TEST(options, flags_set_every_field) {
  auto p = parse({"--port", "0", "--bind", "127.0.0.1", "--threads", "3", "--tick", "250ms", "--node-id", "n1",
                  "--max-message-bytes", "1KiB", "--max-queue-bytes", "4096", "--idle-timeout", "1m"});
  ASSERT_FALSE(p.exit_code) << p.err;
  EXPECT_EQ(p.opts.server.port, 0);
  EXPECT_EQ(p.opts.server.bind, "127.0.0.1");
  EXPECT_EQ(p.opts.server.threads, 3u);
  EXPECT_EQ(p.opts.tick, 250ms);
  EXPECT_EQ(p.opts.server.node_id, "n1");
  EXPECT_EQ(p.opts.server.max_message_bytes, 1024u);
  EXPECT_EQ(p.opts.server.max_queue_bytes, 4096u);
  EXPECT_EQ(p.opts.server.idle_timeout, 1min);
}

TEST(options, cluster_flags) {
  auto alone = parse({});
  ASSERT_FALSE(alone.exit_code);
  EXPECT_FALSE(alone.opts.clustered());
  auto p = parse({"--cluster-port", "7000", "--peers", "b:7000,c:7001"});
  ASSERT_FALSE(p.exit_code) << p.err;
  EXPECT_TRUE(p.opts.clustered());
  EXPECT_EQ(p.opts.cluster_port, 7000);
  EXPECT_EQ(p.opts.peers, (std::vector<chatd::peer_address>{{"b", 7000}, {"c", 7001}}));
}

TEST(options, environment_variables_stand_in_for_flags) {
  ::setenv("CHATD_TICK", "100ms", 1);
  ::setenv("CHATD_NODE_ID", "from-env", 1);
  auto p = parse({"--node-id", "from-flag"});
  ::unsetenv("CHATD_TICK");
  ::unsetenv("CHATD_NODE_ID");
  ASSERT_FALSE(p.exit_code) << p.err;
  EXPECT_EQ(p.opts.tick, 100ms);
  EXPECT_EQ(p.opts.server.node_id, "from-flag"); // the command line wins
}

TEST(options, help_and_version_exit_zero) {
  auto help = parse({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("--max-queue-bytes"), std::string::npos);
  auto version = parse({"--version"});
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_NE(version.out.find("chatd"), std::string::npos);
}

TEST(options, bad_values_fail_with_a_message) {
  std::vector<std::vector<const char*>> bad = {{"--port", "70000"},
                                               {"--port", "http"},
                                               {"--tick", "banana"},
                                               {"--tick", "0s"},
                                               {"--threads", "0"},
                                               {"--max-queue-bytes", "1KiB"},
                                               {"--idle-timeout", "-1s"},
                                               {"--max-message-bytes", "0"},
                                               {"--no-such-flag"},
                                               {"--node-id", ""},
                                               {"--peers", "nohost"},
                                               {"--cluster-port", "99999"},
                                               {"--slow-consumer-grace", "soon"},
                                               {"--max-queue-bytes", "2MiB", "--max-queue-bytes-hard", "1MiB"}};
  for (auto& args : bad) {
    auto p = parse(args);
    ASSERT_TRUE(p.exit_code) << args[0];
    EXPECT_EQ(*p.exit_code, 2) << args[0];
    EXPECT_FALSE(p.err.empty()) << args[0];
  }
}
