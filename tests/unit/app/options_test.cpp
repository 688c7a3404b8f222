#include "app/options.hpp"

#include "net/auth.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
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
  EXPECT_EQ(p.opts.server.history_size, 100u);
  EXPECT_EQ(p.opts.server.history_ttl, 5min);
  EXPECT_EQ(p.opts.server.history_max_bytes, 64u << 20);
}

TEST(options, history_flags) {
  auto p = parse({"--history-size", "7", "--history-ttl", "90s", "--history-max-bytes", "2MiB"});
  ASSERT_FALSE(p.exit_code) << p.err;
  EXPECT_EQ(p.opts.server.history_size, 7u);
  EXPECT_EQ(p.opts.server.history_ttl, 90s);
  EXPECT_EQ(p.opts.server.history_max_bytes, 2u << 20);
  auto off = parse({"--history-size", "0", "--history-ttl", "0"});
  ASSERT_FALSE(off.exit_code) << off.err;
  EXPECT_EQ(off.opts.server.history_size, 0u);
  EXPECT_EQ(off.opts.server.history_ttl.count(), 0);
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
  EXPECT_EQ(p.opts.cluster_ready_grace, 5s);
  auto grace = parse({"--peers", "b:7000", "--cluster-ready-grace", "1500ms"});
  ASSERT_FALSE(grace.exit_code) << grace.err;
  EXPECT_EQ(grace.opts.cluster_ready_grace, 1500ms);
  auto timeout = parse({"--peers", "b:7000", "--cluster-timeout", "12s"});
  ASSERT_FALSE(timeout.exit_code) << timeout.err;
  EXPECT_EQ(timeout.opts.cluster_timeout, 12s);
  auto none = parse({"--peers", "b:7000", "--cluster-ready-grace", "0"});
  ASSERT_FALSE(none.exit_code) << none.err;
  EXPECT_EQ(none.opts.cluster_ready_grace, 0ms);
}

TEST(options, environment_variables_stand_in_for_flags) {
  ::setenv("CHATD_TICK", "100ms", 1);
  ::setenv("CHATD_NODE_ID", "from-env", 1);
  ::setenv("CHATD_CLUSTER_READY_GRACE", "2s", 1);
  auto p = parse({"--node-id", "from-flag"});
  ::unsetenv("CHATD_TICK");
  ::unsetenv("CHATD_NODE_ID");
  ::unsetenv("CHATD_CLUSTER_READY_GRACE");
  ASSERT_FALSE(p.exit_code) << p.err;
  EXPECT_EQ(p.opts.tick, 100ms);
  EXPECT_EQ(p.opts.cluster_ready_grace, 2s);
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
                                               {"--history-size", "-1"},
                                               {"--cluster-timeout", "100ms"},
                                               {"--cluster-timeout", "never"},
                                               {"--presence-max-members", "-1"},
                                               {"--max-connections", "-1"},
                                               {"--history-size", "many"},
                                               {"--history-ttl", "forever"},
                                               {"--history-max-bytes", "lots"},
                                               {"--cluster-ready-grace", "later"},
                                               {"--cluster-ready-grace", "-1s"},
                                               {"--max-queue-bytes", "2MiB", "--max-queue-bytes-hard", "1MiB"},
                                               {"--auth-jwt-key", "/nonexistent/key"},
                                               {"--auth-jwt-audience", "chatd"},
                                               {"token", "--sub", "alice"},
                                               {"token", "--secret-file", "/nonexistent/key"}};
  for (auto& args : bad) {
    auto p = parse(args);
    ASSERT_TRUE(p.exit_code) << args[0];
    EXPECT_EQ(*p.exit_code, 2) << args[0];
    EXPECT_FALSE(p.err.empty()) << args[0];
  }
}

namespace {

struct temp_file {
  explicit temp_file(const std::string& text) {
    path = std::filesystem::temp_directory_path() / ("chatd-options-test-" + std::to_string(::getpid()));
    std::ofstream(path) << text;
  }
  ~temp_file() { std::filesystem::remove(path); }
  std::filesystem::path path;
};

} // namespace

TEST(options, auth_flags_load_the_key) {
  auto none = parse({});
  ASSERT_FALSE(none.exit_code) << none.err;
  EXPECT_FALSE(none.opts.server.auth);
  temp_file secret("0123456789abcdef0123456789abcdef\n");
  const std::string path = secret.path.string();
  auto p = parse(
      {"--auth-jwt-key", path.c_str(), "--auth-jwt-issuer", "https://auth.example", "--auth-jwt-audience", "chatd"});
  ASSERT_FALSE(p.exit_code) << p.err;
  ASSERT_TRUE(p.opts.server.auth);
  EXPECT_EQ(p.opts.server.auth->kind(), chatd::net::auth::key_kind::hs256);
  EXPECT_EQ(p.opts.server.auth->options().issuer, "https://auth.example");
  EXPECT_EQ(p.opts.server.auth->options().audience, "chatd");
  EXPECT_EQ(p.opts.auth_jwt_key, path);
  EXPECT_FALSE(p.opts.token);
}

TEST(options, a_bad_key_file_is_a_usage_error_that_names_the_problem) {
  temp_file empty("\n");
  const std::string path = empty.path.string();
  auto p = parse({"--auth-jwt-key", path.c_str()});
  ASSERT_TRUE(p.exit_code);
  EXPECT_EQ(*p.exit_code, 2);
  EXPECT_NE(p.err.find("secret is empty"), std::string::npos) << p.err;
}

TEST(options, the_token_subcommand) {
  auto p = parse({"token", "--secret-file", "s", "--sub", "alice", "--name", "Alice", "--rooms", "a, team-*", "--ttl",
                  "90s", "--issuer", "i", "--audience", "a"});
  ASSERT_FALSE(p.exit_code) << p.err;
  ASSERT_TRUE(p.opts.token);
  EXPECT_EQ(p.opts.token->secret_file, "s");
  EXPECT_EQ(p.opts.token->sub, "alice");
  EXPECT_EQ(p.opts.token->name, "Alice");
  EXPECT_EQ(p.opts.token->rooms, (std::vector<std::string>{"a", "team-*"}));
  EXPECT_EQ(p.opts.token->ttl, 90s);
  EXPECT_EQ(p.opts.token->issuer, "i");
  EXPECT_EQ(p.opts.token->audience, "a");
  auto defaults = parse({"token", "--secret-file", "s", "--sub", "bob"});
  ASSERT_TRUE(defaults.opts.token);
  EXPECT_EQ(defaults.opts.token->ttl, 1h);
  EXPECT_TRUE(defaults.opts.token->rooms.empty());
}

TEST(options, the_api_key_is_read_from_its_file_without_the_trailing_newline) {
  EXPECT_TRUE(parse({}).opts.server.api_key.empty());
  char path[] = "/tmp/chatd-options-test-XXXXXX";
  int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, "s3cret key\n", 11), 11);
  ::close(fd);
  auto p = parse({"--api-key-file", path});
  ASSERT_FALSE(p.exit_code) << p.err;
  EXPECT_EQ(p.opts.server.api_key, "s3cret key");

  fd = ::open(path, O_WRONLY | O_TRUNC);
  ASSERT_EQ(::write(fd, "\n", 1), 1);
  ::close(fd);
  p = parse({"--api-key-file", path});
  EXPECT_EQ(p.exit_code, 2);
  EXPECT_NE(p.err.find("--api-key-file"), std::string::npos) << p.err;
  ::unlink(path);

  p = parse({"--api-key-file", "/nonexistent/api.key"});
  EXPECT_EQ(p.exit_code, 2);
  EXPECT_NE(p.err.find("cannot open"), std::string::npos) << p.err;
}
