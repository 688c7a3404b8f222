#include "app/options.hpp"

#include "app/units.hpp"

#include <CLI/CLI.hpp>
#include <boost/asio/ip/address.hpp>
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

std::vector<std::string> parse_origin_list(std::string_view list) {
  std::vector<std::string> out;
  while (!list.empty()) {
    auto comma = list.find(',');
    auto item = list.substr(0, comma);
    while (!item.empty() && item.front() == ' ')
      item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ')
      item.remove_suffix(1);
    if (!item.empty())
      out.emplace_back(item);
    list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
  }
  return out;
}

} // namespace

std::optional<int> parse_options(int argc, const char* const* argv, options& out, std::ostream& out_stream,
                                 std::ostream& err_stream) {
  CLI::App app{"chatd: a clustered WebSocket chat/broadcast server", "chatd"};
  app.set_version_flag("--version", std::string{"chatd "} + CHATD_VERSION);
  app.get_formatter()->column_width(32);

  auto& s = out.server;
  auto threads = static_cast<std::size_t>(std::max(1u, std::thread::hardware_concurrency()));
  std::string tick = "3s", idle_timeout = "60s", max_message = "65536", max_queue = "1MiB", max_queue_hard,
              slow_grace = "5s", peers;
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
  app.add_option("--max-queue-bytes", max_queue,
                 "Outbound bytes queued per connection; over it for longer than --slow-consumer-grace: closed as slow")
      ->envname("CHATD_MAX_QUEUE_BYTES")
      ->check(size_format)
      ->capture_default_str();
  app.add_option("--max-queue-bytes-hard", max_queue_hard,
                 "Outbound bytes per connection that close it as slow at once (default: 16MiB or 4x "
                 "--max-queue-bytes, whichever is more)")
      ->envname("CHATD_MAX_QUEUE_BYTES_HARD")
      ->check(size_format);
  app.add_option("--slow-consumer-grace", slow_grace,
                 "How long a connection may stay over --max-queue-bytes before it is closed as slow")
      ->envname("CHATD_SLOW_CONSUMER_GRACE")
      ->check(duration_format)
      ->capture_default_str();
  app.add_option("--idle-timeout", idle_timeout, "Close a client with no traffic and no pong for this long")
      ->envname("CHATD_IDLE_TIMEOUT")
      ->check(duration_format)
      ->capture_default_str();

  std::string origins = "*";
  app.add_option("--allowed-origins", origins,
                 "Origins whose pages may open WebSockets: https://a.example,http://localhost:9000 (*: any)")
      ->envname("CHATD_ALLOWED_ORIGINS")
      ->capture_default_str();
  app.add_option("--max-connections", s.max_connections, "WebSocket connections; over it: HTTP 503 (0: no limit)")
      ->envname("CHATD_MAX_CONNECTIONS")
      ->capture_default_str();
  app.add_option("--max-messages-per-second", s.max_messages_per_second,
                 "Per connection, with a burst of one second's worth; over it: close 1008 (0: no limit)")
      ->envname("CHATD_MAX_MESSAGES_PER_SECOND")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  s.max_handshakes_per_second = 1000;
  app.add_option("--max-handshakes-per-second", s.max_handshakes_per_second,
                 "WebSocket handshakes a second, whole node; over it: close 1013, try again later (0: no limit)")
      ->envname("CHATD_MAX_HANDSHAKES_PER_SECOND")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();

  app.add_option("--cluster-port", out.cluster_port, "Port peers connect to (CAF remoting); 0: no cluster port")
      ->envname("CHATD_CLUSTER_PORT")
      ->capture_default_str();
  app.add_option("--peers", peers, "Other nodes' cluster ports: host:port,host:port")
      ->envname("CHATD_PEERS")
      ->check(peer_list_format);

  app.add_option("--cluster-cert", out.cluster_cert, "This node's certificate (PEM) for the cluster port")
      ->envname("CHATD_CLUSTER_CERT");
  app.add_option("--cluster-key", out.cluster_key, "Its private key (PEM)")->envname("CHATD_CLUSTER_KEY");
  app.add_option("--cluster-ca", out.cluster_ca, "CA certificate(s) (PEM) that peers' certificates must be signed by")
      ->envname("CHATD_CLUSTER_CA");
  app.add_option("--cluster-bind", out.cluster_bind,
                 "Address of the cluster port (default: 127.0.0.1 without certificates, all with them)")
      ->envname("CHATD_CLUSTER_BIND");

  try {
    app.parse(argc, argv);
    s.threads = threads;
    out.tick = *parse_duration(tick);
    s.idle_timeout = *parse_duration(idle_timeout);
    s.max_message_bytes = *parse_size(max_message);
    s.max_queue_bytes = *parse_size(max_queue);
    s.hard_queue_bytes =
        max_queue_hard.empty() ? std::max<std::size_t>(16 << 20, 4 * s.max_queue_bytes) : *parse_size(max_queue_hard);
    s.slow_consumer_grace = *parse_duration(slow_grace);
    out.peers = *parse_peer_list(peers);
    s.allowed_origins = parse_origin_list(origins);
    if (s.allowed_origins.empty())
      throw CLI::ValidationError("--allowed-origins", "must name at least one origin, or * for any");
    for (const auto& origin : s.allowed_origins)
      if (origin != "*" && origin.find("://") == std::string::npos)
        throw CLI::ValidationError("--allowed-origins",
                                   "expected origins like https://chat.example.com, got '" + origin + "'");
    if (out.tick.count() <= 0)
      throw CLI::ValidationError("--tick", "must be more than 0");
    if (s.idle_timeout.count() <= 0)
      throw CLI::ValidationError("--idle-timeout", "must be more than 0");
    if (s.max_message_bytes == 0)
      throw CLI::ValidationError("--max-message-bytes", "must be more than 0");
    if (s.max_queue_bytes < s.max_message_bytes)
      throw CLI::ValidationError("--max-queue-bytes",
                                 "must be at least --max-message-bytes, or one message could never be queued");
    if (s.hard_queue_bytes < s.max_queue_bytes)
      throw CLI::ValidationError("--max-queue-bytes-hard", "must be at least --max-queue-bytes");
    const int credentials = !out.cluster_cert.empty() + !out.cluster_key.empty() + !out.cluster_ca.empty();
    if (credentials != 0 && credentials != 3)
      throw CLI::ValidationError("--cluster-cert/--cluster-key/--cluster-ca", "give all three, or none");
    boost::system::error_code address_error;
    if (!out.cluster_bind.empty() && (boost::asio::ip::make_address(out.cluster_bind, address_error), address_error))
      throw CLI::ValidationError("--cluster-bind", "expected an IP address, got '" + out.cluster_bind + "'");
    if (s.node_id.empty())
      throw CLI::ValidationError("--node-id", "must not be empty");
  } catch (const CLI::ParseError& e) {
    // CLI11 has a code per kind of mistake; callers only need "usage error".
    return app.exit(e, out_stream, err_stream) == 0 ? 0 : 2;
  }
  return std::nullopt;
}

} // namespace chatd::app
