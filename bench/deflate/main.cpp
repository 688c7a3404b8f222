// chatd-deflate-bench: what permessage-deflate costs and saves, against a
// running chatd (pin it and this tool to different cores, see bench/README.md).
//
//   chatd-deflate-bench fanout PORT PID CLIENTS RATE SECONDS on|off [LINES]
//     CLIENTS receivers in one room, offering compression (on) or not (off);
//     one publisher (never compressing) sends chat-like JSON lines, RATE a
//     second for SECONDS. Prints deliveries, bytes on the wire per delivery
//     and chatd's CPU seconds per million deliveries (from /proc/PID/stat).
//     LINES > 1: each message is a JSON array of that many lines.
//   chatd-deflate-bench memory PORT PID CLIENTS on|off
//     CLIENTS idle connections (offering compression or not): chatd's RSS
//     growth per connection; then each sends one compressed message (a
//     compressing client's first), and the growth per connection again.
// Before Asio: Boost 1.74's awaitable.hpp uses std::exchange without it.
#include <utility>

#include <boost/asio.hpp>
#include <zlib.h>

#include "../chat_bench/proc_stats.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using clock_type = std::chrono::steady_clock;

// A chat line as a v1-style JSON envelope: what chat rooms mostly carry.
std::string chat_line(std::uint64_t i) {
  static const char* words[] = {"hello",  "everyone", "is",      "the", "deploy", "done", "yes", "looks", "good",
                                "thanks", "lunch",    "meeting", "at",  "three",  "see",  "you", "there", "ok"};
  std::string text;
  std::uint64_t x = i * 2654435761u + 1;
  for (int w = 0; w < 8; ++w) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    text += words[(x >> 33) % (sizeof words / sizeof *words)];
    text += ' ';
  }
  return R"({"type":"message","room":"bench","from":{"user":"user)" + std::to_string(i % 50) + R"(","name":"User )" +
         std::to_string(i % 50) + R"("},"ts":)" + std::to_string(1764633600000 + i) + R"(,"data":")" + text + R"("})";
}

// `lines` chat lines in one JSON array (a history page, a batch).
std::string message(std::uint64_t i, int lines) {
  if (lines <= 1)
    return chat_line(i);
  std::string out = "[";
  for (int k = 0; k < lines; ++k)
    out += (k ? "," : "") + chat_line(i * static_cast<std::uint64_t>(lines) + static_cast<std::uint64_t>(k));
  return out + "]";
}

std::string deflated(const std::string& in) {
  z_stream z{};
  deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, in.size()) + 16, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_SYNC_FLUSH);
  out.resize(out.size() - z.avail_out - 4);
  deflateEnd(&z);
  return out;
}

// A client frame with a zero mask key (the payload goes as it is).
std::string client_frame(const std::string& payload, bool rsv1) {
  std::string f;
  f += static_cast<char>(0x81 | (rsv1 ? 0x40 : 0));
  if (payload.size() < 126) {
    f += static_cast<char>(0x80 | payload.size());
  } else {
    f += static_cast<char>(0x80 | 126);
    f += static_cast<char>(payload.size() >> 8);
    f += static_cast<char>(payload.size() & 0xff);
  }
  f.append(4, '\0');
  return f + payload;
}

struct conn {
  tcp::socket socket;
  std::array<char, 65536> buffer{};
  std::string pending; // bytes of a frame cut by a read
  bool compressed = false;
  explicit conn(asio::io_context& io) : socket(io) {}
};

struct counters {
  std::uint64_t deliveries = 0, wire_bytes = 0, compressed_frames = 0;
};

void connect_all(asio::io_context& io, unsigned short port, std::vector<std::unique_ptr<conn>>& out, int n, bool offer,
                 bool room_each = false) {
  tcp::endpoint at(asio::ip::make_address("127.0.0.1"), port);
  for (int i = 0; i < n; ++i) {
    std::string req = "GET /rooms/bench" + (room_each ? "-" + std::to_string(i) : std::string{}) +
                      " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";
    if (offer)
      req += "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n";
    req += "\r\n";
    auto c = std::make_unique<conn>(io);
    c->socket.connect(at);
    c->socket.set_option(tcp::no_delay(true));
    asio::write(c->socket, asio::buffer(req));
    std::string head;
    while (head.find("\r\n\r\n") == std::string::npos) {
      auto got = c->socket.read_some(asio::buffer(c->buffer));
      head.append(c->buffer.data(), got);
    }
    if (head.rfind("HTTP/1.1 101", 0) != 0) {
      std::fprintf(stderr, "handshake refused: %s\n", head.c_str());
      std::exit(1);
    }
    c->compressed = head.find("permessage-deflate") != std::string::npos;
    c->pending = head.substr(head.find("\r\n\r\n") + 4);
    out.push_back(std::move(c));
  }
}

// Counts whole frames in `c.pending`, keeps a cut one.
void count_frames(conn& c, counters& k) {
  std::size_t at = 0;
  auto& p = c.pending;
  while (p.size() - at >= 2) {
    auto b0 = static_cast<unsigned char>(p[at]);
    std::size_t len = static_cast<unsigned char>(p[at + 1]) & 0x7f, head = 2;
    if (len == 126) {
      if (p.size() - at < 4)
        break;
      len = static_cast<unsigned char>(p[at + 2]) << 8 | static_cast<unsigned char>(p[at + 3]);
      head = 4;
    } else if (len == 127) {
      break; // never this large here
    }
    if (p.size() - at < head + len)
      break;
    if ((b0 & 0x0f) == 0x1 || (b0 & 0x0f) == 0x2) {
      ++k.deliveries;
      k.wire_bytes += head + len;
      if (b0 & 0x40)
        ++k.compressed_frames;
    }
    at += head + len;
  }
  p.erase(0, at);
}

void read_loop(conn& c, counters& k) {
  c.socket.async_read_some(asio::buffer(c.buffer), [&c, &k](boost::system::error_code ec, std::size_t n) {
    if (ec)
      return;
    c.pending.append(c.buffer.data(), n);
    count_frames(c, k);
    read_loop(c, k);
  });
}

int fanout(unsigned short port, long pid, int clients, double rate, double seconds, bool offer, int lines) {
  asio::io_context io;
  std::vector<std::unique_ptr<conn>> receivers, publisher;
  connect_all(io, port, receivers, clients, offer);
  connect_all(io, port, publisher, 1, false);
  counters k;
  for (auto& c : receivers)
    read_loop(*c, k);
  counters mine;
  read_loop(*publisher[0], mine);
  std::uint64_t sent = 0;
  const auto total = static_cast<std::uint64_t>(rate * seconds);
  const auto start = clock_type::now();
  const double cpu0 = chatbench::read_cpu_s(pid);
  asio::steady_timer tick(io);
  std::function<void()> send_next = [&] {
    auto due = start + std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(sent / rate));
    tick.expires_at(due);
    tick.async_wait([&](boost::system::error_code) {
      auto frame = std::make_shared<std::string>(client_frame(message(sent, lines), false));
      asio::async_write(publisher[0]->socket, asio::buffer(*frame), [frame](boost::system::error_code, std::size_t) {});
      if (++sent < total)
        send_next();
    });
  };
  send_next();
  const auto deadline = start + std::chrono::duration<double>(seconds + 10);
  const std::uint64_t expected = total * static_cast<std::uint64_t>(clients);
  while (clock_type::now() < deadline && (sent < total || k.deliveries < expected))
    io.run_for(std::chrono::milliseconds(50));
  const double cpu = chatbench::read_cpu_s(pid) - cpu0;
  std::printf("fanout compression=%s clients=%d negotiated=%d messages=%llu deliveries=%llu (expected %llu) "
              "compressed_frames=%llu wire_bytes_per_delivery=%.1f plain_message_bytes=%zu "
              "cpu_s=%.3f cpu_s_per_million_deliveries=%.3f\n",
              offer ? "on" : "off", clients, receivers.empty() ? 0 : static_cast<int>(receivers[0]->compressed),
              static_cast<unsigned long long>(sent), static_cast<unsigned long long>(k.deliveries),
              static_cast<unsigned long long>(expected), static_cast<unsigned long long>(k.compressed_frames),
              k.deliveries ? static_cast<double>(k.wire_bytes) / static_cast<double>(k.deliveries) : 0.0,
              message(0, lines).size() + 2, cpu, k.deliveries ? cpu * 1e6 / static_cast<double>(k.deliveries) : 0.0);
  return k.deliveries == expected ? 0 : 1;
}

int memory(unsigned short port, long pid, int clients, bool offer) {
  asio::io_context io;
  std::vector<std::unique_ptr<conn>> conns;
  const long before = chatbench::read_rss_kb(pid);
  connect_all(io, port, conns, clients, offer, true);
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const long idle = chatbench::read_rss_kb(pid);
  // Each client's first message, compressed where it was negotiated (its
  // inflater's window is allocated then), sent in a room of its own so that
  // nothing is broadcast to the others.
  const auto line = chat_line(1);
  const auto plain = client_frame(line, false), packed = client_frame(deflated(line), true);
  for (auto& c : conns)
    asio::write(c->socket, asio::buffer(c->compressed ? packed : plain));
  std::this_thread::sleep_for(std::chrono::seconds(3));
  const long active = chatbench::read_rss_kb(pid);
  std::printf("memory compression=%s clients=%d negotiated=%d rss_kib before=%ld idle=%ld after_one_message=%ld "
              "idle_bytes_per_conn=%.0f after_message_bytes_per_conn=%.0f\n",
              offer ? "on" : "off", clients, static_cast<int>(conns[0]->compressed), before, idle, active,
              (idle - before) * 1024.0 / clients, (active - before) * 1024.0 / clients);
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  if (argc >= 8 && std::strcmp(argv[1], "fanout") == 0)
    return fanout(static_cast<unsigned short>(std::atoi(argv[2])), std::atol(argv[3]), std::atoi(argv[4]),
                  std::atof(argv[5]), std::atof(argv[6]), std::strcmp(argv[7], "on") == 0,
                  argc >= 9 ? std::atoi(argv[8]) : 1);
  if (argc >= 6 && std::strcmp(argv[1], "memory") == 0)
    return memory(static_cast<unsigned short>(std::atoi(argv[2])), std::atol(argv[3]), std::atoi(argv[4]),
                  std::strcmp(argv[5], "on") == 0);
  std::fprintf(stderr, "usage: chatd-deflate-bench fanout PORT PID CLIENTS RATE SECONDS on|off [LINES]\n"
                       "       chatd-deflate-bench memory PORT PID CLIENTS on|off\n");
  return 2;
}
