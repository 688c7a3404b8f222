#include "tests/fuzz/harness.hpp"

#include "net/deflate.hpp"

#include "net/server.hpp"

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <thread>

namespace chatd::fuzz {

namespace {

namespace net = chatd::net;
using steady = std::chrono::steady_clock;

// Far above every timeout the server is given below: a connection still open
// this long after the client stopped sending is held by nothing but a bug.
constexpr auto exchange_bound = std::chrono::seconds(5);
// How long the WebSocket handshake may take.
constexpr auto request_bound = std::chrono::seconds(2);
// What is kept of an answer; the rest is read and dropped.
constexpr std::size_t answer_limit = 16 * 1024 * 1024;

// Stands in for the broadcaster of a node with one other loop: each message
// a client publishes also comes back to the loop through a post, as a frame
// from another loop or node would (it may then find its sender gone or closing).
class loopback_events : public net::loop_events {
public:
  explicit loopback_events(net::io_loop& loop) : loop_(loop) {}
  void on_join(const std::string&, bool) override {}
  void on_leave(const std::string&, bool) override {}
  void on_node_interest(const std::string&, bool, std::uint64_t) override {}
  void on_publish(std::vector<frame_ptr> batch) override {
    boost::asio::post(loop_.context(), [&loop = loop_, batch = std::move(batch)] { loop.deliver(batch); });
  }
  void on_forward(std::vector<frame_ptr> batch) override {
    boost::asio::post(loop_.context(), [&loop = loop_, batch = std::move(batch)] { loop.sequence(batch); });
  }
  void on_history_request(const std::string& room, const net::history_request& request, std::uint64_t from,
                          std::uint64_t session) override {
    boost::asio::post(loop_.context(), [&loop = loop_, room, request, from, session] {
      loop.serve_history(room, request, from, session);
    });
  }
  void on_history_answer(std::uint64_t, std::uint64_t session, const net::history_answer& answer) override {
    boost::asio::post(loop_.context(), [&loop = loop_, session, answer] { loop.history_arrived(session, answer); });
  }
  void on_remove(const std::string&, const std::string&) override {}
  // Not clustered: every room is this node's to order.
  void on_order_elsewhere(std::vector<frame_ptr>) override {}
  void on_remote_history_request(const std::string&, const net::history_request&, std::uint64_t,
                                 std::uint64_t) override {}
  void on_stopped() override {}

private:
  net::io_loop& loop_;
};

// Small limits and short timeouts, so every limit is in reach of a small
// input and nothing the server waits for outlasts an input by much.
net::server_options fuzz_options() {
  net::server_options options;
  options.node_id = "fuzz";
  options.bind = "127.0.0.1";
  options.port = 0;
  options.threads = 1;
  options.max_message_bytes = 1024;
  options.max_queue_bytes = 2048;
  options.hard_queue_bytes = 8192;
  options.slow_consumer_grace = std::chrono::milliseconds(300);
  options.http_timeout = std::chrono::milliseconds(1000);
  options.handshake_timeout = std::chrono::milliseconds(1000);
  options.idle_timeout = std::chrono::milliseconds(2000);
  options.close_grace = std::chrono::milliseconds(200);
  options.compression = true; // negotiated only where the upgrade offers it (chatd_fuzz_websocket_deflate)
  return options;
}

// Made first so spdlog's registry outlives the server (which may log while
// it stops at exit). CHATD_FUZZ_LOG=debug (or info, warn...) shows chatd's log.
struct log_level {
  log_level() {
    const char* level = std::getenv("CHATD_FUZZ_LOG");
    spdlog::set_level(level ? spdlog::level::from_str(level) : spdlog::level::off);
  }
};

// The counters worth a glance after a run: every non-zero chat_ sample
// except the latency histogram.
void print_summary(const chat_metrics& metrics) {
  std::istringstream text{metrics.serialize()};
  std::string line, summary;
  while (std::getline(text, line)) {
    if (!line.starts_with("chat_") || line.starts_with("chat_broadcast_latency") || line.ends_with(" 0"))
      continue;
    summary += (summary.empty() ? "" : ", ") + line;
  }
  std::fprintf(stderr, "chatd fuzz harness, server counters at exit: %s\n", summary.c_str());
}

struct running_server {
  log_level logs;
  chat_metrics metrics;
  net::server server{fuzz_options(), metrics};
  loopback_events events{server.loop(0)};

  running_server() {
    server.loop(0).set_events(&events);
    // As if a peer's rooms were unknown: every message leaves the loop and
    // comes back through `events`.
    server.directory().add_unknown_peer();
    server.listen();
    server.start();
  }
  ~running_server() {
    server.stop();
    print_summary(metrics);
  }
};

running_server& the_server() {
  static running_server s;
  return s;
}

std::string escaped(std::string_view bytes, std::size_t limit = 600) {
  std::string out;
  for (std::size_t i = 0; i < bytes.size() && i < limit; ++i) {
    auto c = static_cast<unsigned char>(bytes[i]);
    if (c == '\n')
      out += "\\n";
    else if (c == '\r')
      out += "\\r";
    else if (c == '\\')
      out += "\\\\";
    else if (c >= 0x20 && c < 0x7f)
      out += static_cast<char>(c);
    else {
      char hex[5];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    }
  }
  if (bytes.size() > limit)
    out += "... (" + std::to_string(bytes.size()) + " bytes)";
  return out;
}

[[noreturn]] void fail_errno(const char* call) {
  fail(std::string{"harness: "} + call + " failed: " + std::strerror(errno), {});
}

int milliseconds_until(steady::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now()).count();
  return left > 0 ? static_cast<int>(left) : 0;
}

// What a bounded read has got so far, and whether the stream is still open.
struct io_state {
  std::string received;
  bool open = true;
};

} // namespace

std::uint16_t server_port() { return the_server().server.port(); }

void expect_no_sessions() {
  auto& connections = the_server().metrics.connections;
  auto deadline = steady::now() + std::chrono::seconds(5);
  for (int spins = 0; connections.Value() != 0; ++spins) {
    if (steady::now() >= deadline)
      fail("a WebSocket session outlived its connection by 5 s (chat_connections is " +
               std::to_string(static_cast<long>(connections.Value())) + ")",
           {});
    if (spins < 100)
      std::this_thread::yield();
    else
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

void fail(std::string_view what, std::string_view received) {
  std::fprintf(stderr, "\n==chatd fuzz== %.*s\n", static_cast<int>(what.size()), what.data());
  if (!received.empty())
    std::fprintf(stderr, "==chatd fuzz== chatd sent: %s\n", escaped(received).c_str());
  std::fflush(stderr);
  std::abort();
}

client::client(std::uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
  if (fd_ < 0)
    fail_errno("socket");
  timeval connect_bound{2, 0}; // connect() honours the send timeout
  ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &connect_bound, sizeof connect_bound);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  while (::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
    if (errno != EINTR)
      fail_errno("connect to chatd");
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK);
}

client::~client() {
  linger reset{1, 0};
  ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
  ::close(fd_);
}

namespace {

// Waits until the socket is readable (or writable, when `want_write`) or
// the deadline passes; then reads what there is. Returns the poll events.
short wait_and_read(int fd, bool want_write, steady::time_point deadline, io_state& io) {
  pollfd p{fd, static_cast<short>(POLLIN | (want_write ? POLLOUT : 0)), 0};
  int r = ::poll(&p, 1, milliseconds_until(deadline));
  if (r < 0) {
    if (errno == EINTR)
      return 0;
    fail_errno("poll");
  }
  if (r == 0)
    return 0;
  if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
    char buf[64 * 1024];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      if (io.received.size() < answer_limit)
        io.received.append(buf, static_cast<std::size_t>(n));
    } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
      io.open = false; // end of stream, or reset by the server
    }
  }
  return p.revents;
}

} // namespace

std::string client::request(std::string_view request, std::string_view delimiter) {
  auto deadline = steady::now() + request_bound;
  io_state io;
  std::size_t sent = 0;
  while (io.open && steady::now() < deadline && io.received.find(delimiter) == std::string::npos) {
    short events = wait_and_read(fd_, sent < request.size(), deadline, io);
    if (sent < request.size() && (events & POLLOUT)) {
      ssize_t n = ::send(fd_, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
      if (n > 0)
        sent += static_cast<std::size_t>(n);
      else if (n < 0 && errno != EAGAIN && errno != EINTR)
        break;
    }
  }
  return io.received;
}

std::string client::exchange(const std::uint8_t* data, std::size_t size) {
  auto deadline = steady::now() + exchange_bound;
  io_state io;
  std::size_t sent = 0;
  bool shut = false;
  while (io.open) {
    if (!shut && sent == size) {
      ::shutdown(fd_, SHUT_WR);
      shut = true;
    }
    if (steady::now() >= deadline)
      fail("chatd kept the connection open 5 s after the client had sent everything and shut down its side "
           "(the server's timeouts are 1-2 s)",
           io.received);
    short events = wait_and_read(fd_, !shut, deadline, io);
    if (!shut && (events & (POLLOUT | POLLERR))) {
      ssize_t n = ::send(fd_, data + sent, size - sent, MSG_NOSIGNAL);
      if (n > 0)
        sent += static_cast<std::size_t>(n);
      else if (n < 0 && errno != EAGAIN && errno != EINTR)
        sent = size; // the server closed or reset: read what it said
    }
  }
  return io.received;
}

namespace {

enum class utf8 { valid, cut_short, invalid };

// Whether `s` is UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing
// past U+10FFFF), or would be if it did not end in the middle of a sequence.
utf8 check_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len;
    std::uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
      len = 2;
      cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      cp = c & 0x07;
    } else {
      return utf8::invalid;
    }
    for (std::size_t k = 1; k < len; ++k) {
      if (i + k == s.size())
        return utf8::cut_short;
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80)
        return utf8::invalid;
      cp = (cp << 6) | (cc & 0x3f);
    }
    static constexpr std::uint32_t min_for_len[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_for_len[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return utf8::invalid;
    i += len;
  }
  return utf8::valid;
}

// Close codes a server may send: those RFC 6455 defines for the wire (7.4.1,
// 7.4.2), and from 3000 up, since Beast echoes a client's close code and
// takes any code from 3000 on (even past 4999, which the RFC leaves undefined).
bool valid_close_code(unsigned code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1013) || code >= 3000;
}

} // namespace

void check_server_frames(std::string_view bytes, bool deflate) {
  std::size_t pos = 0;
  bool closed = false;
  while (pos < bytes.size()) {
    auto frame_start = bytes.substr(pos);
    if (closed)
      fail("chatd sent more after its close frame", frame_start);
    if (bytes.size() - pos < 2)
      return; // cut short
    auto b0 = static_cast<unsigned char>(bytes[pos]);
    auto b1 = static_cast<unsigned char>(bytes[pos + 1]);
    bool fin = b0 & 0x80;
    unsigned opcode = b0 & 0x0f;
    std::uint64_t length = b1 & 0x7f;
    std::size_t header = 2;
    const bool rsv1 = (b0 & 0x40) != 0;
    if (b0 & 0x30)
      fail("chatd sent a frame with RSV2 or RSV3 set (no extension uses them)", frame_start);
    if (rsv1 && !deflate)
      fail("chatd sent a frame with RSV1 set (no extension was negotiated)", frame_start);
    if (rsv1 && (b0 & 0x08))
      fail("chatd sent a control frame with RSV1 set (RFC 7692 6: only data frames are compressed)", frame_start);
    if (b1 & 0x80)
      fail("chatd sent a masked frame (a server must not mask)", frame_start);
    if (opcode != 0x1 && opcode != 0x2 && opcode != 0x8 && opcode != 0x9 && opcode != 0xa)
      fail("chatd sent a frame with an opcode it never sends (continuation or reserved)", frame_start);
    if (!fin)
      fail("chatd sent a fragment (it writes one frame per message)", frame_start);
    if (length == 126 || length == 127) {
      std::size_t extra = length == 126 ? 2 : 8;
      if (bytes.size() - pos < 2 + extra)
        return;
      length = 0;
      for (std::size_t k = 0; k < extra; ++k)
        length = (length << 8) | static_cast<unsigned char>(bytes[pos + 2 + k]);
      header += extra;
      if ((extra == 2 && length < 126) || (extra == 8 && length <= 0xffff))
        fail("chatd sent a frame length in a longer form than needed", frame_start);
    }
    if (opcode >= 0x8 && length > 125)
      fail("chatd sent a control frame over 125 bytes", frame_start);
    if (bytes.size() - pos - header < length)
      return;
    std::string_view payload = bytes.substr(pos + header, static_cast<std::size_t>(length));
    std::optional<std::string> inflated;
    if (rsv1) {
      inflated = net::inflate_message(payload, 1 << 20);
      if (!inflated)
        fail("chatd sent a compressed frame that does not inflate", frame_start);
      payload = *inflated;
    }
    if (opcode == 0x1) {
      // chatd checks every text message itself (net/utf8.hpp): Beast 1.74
      // let a message cut short inside a character through.
      if (check_utf8(payload) != utf8::valid)
        fail("chatd sent a text message that is not UTF-8", frame_start);
    }
    if (opcode == 0x8) {
      closed = true;
      if (payload.size() == 1)
        fail("chatd sent a close frame with a 1-byte payload", frame_start);
      if (payload.size() >= 2) {
        unsigned code = (static_cast<unsigned char>(payload[0]) << 8) | static_cast<unsigned char>(payload[1]);
        if (!valid_close_code(code))
          fail("chatd sent a close code that is not allowed on the wire", frame_start);
        if (check_utf8(payload.substr(2)) != utf8::valid)
          fail("chatd sent a close reason that is not UTF-8", frame_start);
      }
    }
    pos += header + static_cast<std::size_t>(length);
  }
}

} // namespace chatd::fuzz
