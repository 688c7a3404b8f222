#include "app/options.hpp"

#include "app/units.hpp"

#include <CLI/CLI.hpp>
#include <unistd.h>

#include <thread>

namespace chatd::app {

namespace {

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0')
    return "chatd";
  return buf;
}

// Validators that say what they expect; the value is converted after parsing.
const CLI::Validator duration_format{
    [](std::string& s) { return parse_duration(s) ? "" : "expected a duration like 500ms, 3s or 1m, got '" + s + "'"; },
    "DURATION"};
const CLI::Validator size_format{
    [](std::string& s) { return parse_size(s) ? "" : "expected a size like 65536, 64KiB or 1MiB, got '" + s + "'"; },
    "SIZE"};

const CLI::Validator peer_list_format{
    [](std::string& s) { return parse_peer_list(s) ? "" : "expected host:port,host:port, got '" + s + "'"; },
    "HOST:PORT,..."};

} // namespace

std::optional<int> parse_options(int argc, const char* const* argv, options& out, std::ostream& out_stream,
                                 std::ostream& err_stream) {
  CLI::App app{"chatd: a clustered WebSocket chat/broadcast server", "chatd"};
  app.set_version_flag("--version", std::string{"chatd "} + CHATD_VERSION);
  app.get_formatter()->column_width(32);

  auto& s = out.server;
  auto threads = static_cast<std::size_t>(std::max(1u, std::thread::hardware_concurrency()));
  std::string tick = "3s", idle_timeout = "60s", max_message = "65536", max_queue = "1MiB", peers;
  s.node_id = host_name();

  app.add_option("--port", s.port, "WebSocket and HTTP port (0: any free port)")
      ->envname("CHATD_PORT")
      ->capture_default_str();
  app.add_option("--bind", s.bind, "Address to listen on")->envname("CHATD_BIND")->capture_default_str();
  app.add_option("--threads", threads, "I/O loops (default: one per core)")
      ->envname("CHATD_THREADS")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1024}))
      ->capture_default_str();
  app.add_option("--tick", tick, "How often the ticker logs connected-count")
      ->envname("CHATD_TICK")
      ->check(duration_format)
      ->capture_default_str();
  app.add_option("--node-id", s.node_id, "This node's name in logs and metrics (default: hostname)")
      ->envname("CHATD_NODE_ID");
  app.add_option("--max-message-bytes", max_message, "Largest incoming message; larger ones get close 1009")
      ->envname("CHATD_MAX_MESSAGE_BYTES")
      ->check(size_format)
      ->capture_default_str();
  app.add_option("--max-queue-bytes", max_queue, "Outbound bytes queued per connection before it is closed as slow")
      ->envname("CHATD_MAX_QUEUE_BYTES")
      ->check(size_format)
      ->capture_default_str();
  app.add_option("--idle-timeout", idle_timeout, "Close a client with no traffic and no pong for this long")
      ->envname("CHATD_IDLE_TIMEOUT")
      ->check(duration_format)
      ->capture_default_str();

  app.add_option("--cluster-port", out.cluster_port, "Port peers connect to (CAF remoting); 0: no cluster port")
      ->envname("CHATD_CLUSTER_PORT")
      ->capture_default_str();
  app.add_option("--peers", peers, "Other nodes' cluster ports: host:port,host:port")
      ->envname("CHATD_PEERS")
      ->check(peer_list_format);

  try {
    app.parse(argc, argv);
    s.threads = threads;
    out.tick = *parse_duration(tick);
    s.idle_timeout = *parse_duration(idle_timeout);
    s.max_message_bytes = *parse_size(max_message);
    s.max_queue_bytes = *parse_size(max_queue);
    out.peers = *parse_peer_list(peers);
    if (out.tick.count() <= 0)
      throw CLI::ValidationError("--tick", "must be more than 0");
    if (s.idle_timeout.count() <= 0)
      throw CLI::ValidationError("--idle-timeout", "must be more than 0");
    if (s.max_message_bytes == 0)
      throw CLI::ValidationError("--max-message-bytes", "must be more than 0");
    if (s.max_queue_bytes < s.max_message_bytes)
      throw CLI::ValidationError("--max-queue-bytes",
                                 "must be at least --max-message-bytes, or one message could never be queued");
    if (s.node_id.empty())
      throw CLI::ValidationError("--node-id", "must not be empty");
  } catch (const CLI::ParseError& e) {
    // CLI11 has a code per kind of mistake; callers only need "usage error".
    return app.exit(e, out_stream, err_stream) == 0 ? 0 : 2;
  }
  return std::nullopt;
}

} // namespace chatd::app
