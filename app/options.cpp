#include "app/options.hpp"

#include "app/units.hpp"
#include "net/auth.hpp"

#include <CLI/CLI.hpp>
#include <boost/asio/ip/address.hpp>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <memory>
#include <stdexcept>
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

// "a, b,c" -> {"a", "b", "c"}
std::vector<std::string> parse_list(std::string_view list) {
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

// A secret kept in a file, without its trailing newline; unreadable or empty
// is a usage error.
std::string read_key_file(const std::string& flag, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in.is_open())
    throw CLI::ValidationError(flag, "cannot open '" + path + "'");
  std::string key{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (in.bad())
    throw CLI::ValidationError(flag, "cannot read '" + path + "'");
  while (!key.empty() && (key.back() == '\n' || key.back() == '\r'))
    key.pop_back();
  if (key.empty())
    throw CLI::ValidationError(flag, "'" + path + "' is empty");
  return key;
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
              slow_grace = "5s", ready_grace = "5s", cluster_timeout = "5s", peers, compression = "off",
              compression_min = "64", cluster_order = "on";
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

  app.add_option("--compression", compression,
                 "permessage-deflate with clients that offer it (every browser does): on or off")
      ->envname("CHATD_COMPRESSION")
      ->check(CLI::IsMember({"on", "off"}))
      ->capture_default_str();
  app.add_option("--compression-min-bytes", compression_min, "Messages smaller than this are sent uncompressed")
      ->envname("CHATD_COMPRESSION_MIN_BYTES")
      ->check(size_format)
      ->capture_default_str();
  app.add_option("--compression-window-bits", s.compression_window_bits,
                 "client_max_window_bits asked of clients: their messages' window, 2^N bytes of memory per "
                 "compressing client here (9..15; under 15, offers that leave it out are declined)")
      ->envname("CHATD_COMPRESSION_WINDOW_BITS")
      ->check(CLI::Range(9, 15))
      ->capture_default_str();

  std::string origins = "*";
  app.add_option("--allowed-origins", origins,
                 "Origins whose pages may open WebSockets: https://a.example,http://localhost:9000 (*: any)")
      ->envname("CHATD_ALLOWED_ORIGINS")
      ->capture_default_str();
  app.add_option("--max-connections", s.max_connections, "WebSocket connections; over it: HTTP 503 (0: no limit)")
      ->envname("CHATD_MAX_CONNECTIONS")
      ->check(CLI::NonNegativeNumber)
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
  app.add_option("--presence-max-members", s.presence_max_members,
                 "Above this many users + anonymous connections (cluster-wide), a room's presence is counts only, "
                 "without join/leave events")
      ->envname("CHATD_PRESENCE_MAX_MEMBERS")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--history-size", s.history_size,
                 "Messages each room keeps for ?since= resumes and ?history= (0: none; offsets are still given)")
      ->envname("CHATD_HISTORY_SIZE")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  std::string history_ttl = "5m";
  app.add_option("--history-ttl", history_ttl, "How long a room keeps a message as history (0: none)")
      ->envname("CHATD_HISTORY_TTL")
      ->check(duration_format)
      ->capture_default_str();
  std::string history_max_bytes = "64MiB";
  app.add_option("--history-max-bytes", history_max_bytes,
                 "History of all rooms together; over it the oldest messages go first (chat_history_bytes)")
      ->envname("CHATD_HISTORY_MAX_BYTES")
      ->check(size_format)
      ->capture_default_str();

  app.add_option("--cluster-port", out.cluster_port, "Port peers connect to (CAF remoting); 0: no cluster port")
      ->envname("CHATD_CLUSTER_PORT")
      ->capture_default_str();
  app.add_option("--peers", peers, "Other nodes' cluster ports: host:port,host:port")
      ->envname("CHATD_PEERS")
      ->check(peer_list_format);

  app.add_option("--cluster-ready-grace", ready_grace,
                 "How long after start /readyz waits for every --peers node to be linked, and messages are held "
                 "for those not linked yet (0: ready at once, nothing held)")
      ->envname("CHATD_CLUSTER_READY_GRACE")
      ->check(duration_format)
      ->capture_default_str();
  app.add_option("--cluster-timeout", cluster_timeout,
                 "A peer silent this long (heartbeats go every fifth of it) is gone: killed, paused or cut off")
      ->envname("CHATD_CLUSTER_TIMEOUT")
      ->check(duration_format)
      ->capture_default_str();

  app.add_option("--cluster-order", cluster_order,
                 "One node orders each room, so every member on every node sees one order, with history and "
                 "resume across nodes (a message published elsewhere takes one more hop): on or off")
      ->envname("CHATD_CLUSTER_ORDER")
      ->check(CLI::IsMember({"on", "off"}))
      ->capture_default_str();

  app.add_option("--cluster-cert", out.cluster_cert, "This node's certificate (PEM) for the cluster port")
      ->envname("CHATD_CLUSTER_CERT");
  app.add_option("--cluster-key", out.cluster_key, "Its private key (PEM)")->envname("CHATD_CLUSTER_KEY");
  app.add_option("--cluster-ca", out.cluster_ca, "CA certificate(s) (PEM) that peers' certificates must be signed by")
      ->envname("CHATD_CLUSTER_CA");
  app.add_option("--cluster-bind", out.cluster_bind,
                 "Address of the cluster port (default: 127.0.0.1 without certificates, all with them)")
      ->envname("CHATD_CLUSTER_BIND");

  std::string auth_issuer, auth_audience;
  app.add_option("--auth-jwt-key", out.auth_jwt_key,
                 "Clients must present a JWT checked with this key: a PEM public key (RS256 or ES256) or a file "
                 "holding an HS256 secret (default: no authentication)")
      ->envname("CHATD_AUTH_JWT_KEY");
  app.add_option("--auth-jwt-issuer", auth_issuer, "With --auth-jwt-key: the `iss` tokens must have")
      ->envname("CHATD_AUTH_JWT_ISSUER");
  app.add_option("--auth-jwt-audience", auth_audience, "With --auth-jwt-key: the `aud` tokens must have (or include)")
      ->envname("CHATD_AUTH_JWT_AUDIENCE");

  token_request token;
  std::string token_ttl = "1h", token_rooms;
  auto* token_command = app.add_subcommand("token", "Print a development token signed with an HS256 secret, and exit");
  token_command->add_option("--secret-file", token.secret_file, "The HS256 secret (the --auth-jwt-key file)")
      ->required();
  token_command->add_option("--sub", token.sub, "The user id")->required();
  token_command->add_option("--name", token.name, "The display name");
  token_command->add_option("--rooms", token_rooms, "Rooms the user may join: a,b,team-* (default: every room)");
  token_command->add_option("--ttl", token_ttl, "How long the token is valid")
      ->check(duration_format)
      ->capture_default_str();
  token_command->add_option("--issuer", token.issuer, "The `iss` claim");
  token_command->add_option("--audience", token.audience, "The `aud` claim");
  std::string api_key_file;
  app.add_option("--api-key-file", api_key_file,
                 "File holding the server API's key (Authorization: Bearer <key>); without it the API is off (404)")
      ->envname("CHATD_API_KEY_FILE");

  try {
    app.parse(argc, argv);
    if (*token_command) {
      token.ttl = *parse_duration(token_ttl);
      if (token.ttl < std::chrono::seconds{1})
        throw CLI::ValidationError("--ttl", "must be at least 1s");
      if (token.sub.empty())
        throw CLI::ValidationError("--sub", "must not be empty");
      token.rooms = parse_list(token_rooms);
      out.token = std::move(token);
      return std::nullopt;
    }
    s.threads = threads;
    out.tick = *parse_duration(tick);
    s.idle_timeout = *parse_duration(idle_timeout);
    s.max_message_bytes = *parse_size(max_message);
    s.max_queue_bytes = *parse_size(max_queue);
    s.hard_queue_bytes =
        max_queue_hard.empty() ? std::max<std::size_t>(16 << 20, 4 * s.max_queue_bytes) : *parse_size(max_queue_hard);
    s.slow_consumer_grace = *parse_duration(slow_grace);
    s.history_ttl = *parse_duration(history_ttl);
    s.history_max_bytes = *parse_size(history_max_bytes);
    s.compression = compression == "on";
    s.cluster_order = cluster_order == "on";
    s.compression_min_bytes = *parse_size(compression_min);
    out.peers = *parse_peer_list(peers);
    out.cluster_ready_grace = *parse_duration(ready_grace);
    out.cluster_timeout = *parse_duration(cluster_timeout);
    if (out.cluster_timeout < std::chrono::milliseconds{500})
      throw CLI::ValidationError("--cluster-timeout", "must be at least 500ms");
    s.allowed_origins = parse_list(origins);
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
    if (out.auth_jwt_key.empty() && !(auth_issuer.empty() && auth_audience.empty()))
      throw CLI::ValidationError("--auth-jwt-issuer/--auth-jwt-audience", "need --auth-jwt-key");
    if (!out.auth_jwt_key.empty()) {
      net::auth::verifier_options checks;
      checks.issuer = auth_issuer;
      checks.audience = auth_audience;
      try {
        s.auth = std::make_shared<const net::auth::token_verifier>(net::auth::load_key_file(out.auth_jwt_key), checks);
      } catch (const std::runtime_error& e) {
        throw CLI::ValidationError("--auth-jwt-key", e.what());
      }
    }
    if (!api_key_file.empty())
      s.api_key = read_key_file("--api-key-file", api_key_file);
  } catch (const CLI::ParseError& e) {
    // CLI11 has a code per kind of mistake; callers only need "usage error".
    return app.exit(e, out_stream, err_stream) == 0 ? 0 : 2;
  }
  return std::nullopt;
}

} // namespace chatd::app
