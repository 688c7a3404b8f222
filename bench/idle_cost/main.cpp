// chatd-idle-cost: what one idle WebSocket connection costs chatd in heap
// memory, piece by piece. Runs chatd's network side (one loop, no actors)
// in this process, opens N idle connections to it, and prints the heap
// blocks that are live per connection, by size, with what each is.
//   chatd-idle-cost [N]
#include "net/server.hpp"
#include "net/websocket_session.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>

#include <malloc.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <new>
#include <string>
#include <thread>
#include <vector>

namespace {

// Live heap blocks by usable size (16-byte classes up to 8 KiB).
constexpr std::size_t classes = 512;
std::array<std::atomic<long>, classes + 1> live{};

std::size_t class_of(std::size_t usable) { return std::min(usable / 16, classes); }

void* allocate(std::size_t n) {
  void* p = std::malloc(n ? n : 1);
  if (!p)
    throw std::bad_alloc{};
  live[class_of(malloc_usable_size(p))].fetch_add(1, std::memory_order_relaxed);
  return p;
}

void release(void* p) {
  if (!p)
    return;
  live[class_of(malloc_usable_size(p))].fetch_sub(1, std::memory_order_relaxed);
  std::free(p);
}

std::array<long, classes + 1> snapshot() {
  std::array<long, classes + 1> out{};
  for (std::size_t i = 0; i <= classes; ++i)
    out[i] = live[i].load();
  return out;
}

} // namespace

void* operator new(std::size_t n) { return allocate(n); }
void* operator new[](std::size_t n) { return allocate(n); }
void operator delete(void* p) noexcept { release(p); }
void operator delete[](void* p) noexcept { release(p); }
void operator delete(void* p, std::size_t) noexcept { release(p); }
void operator delete[](void* p, std::size_t) noexcept { release(p); }

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 1000;
  chatd::chat_metrics metrics;
  chatd::net::server_options options;
  options.bind = "127.0.0.1";
  options.port = 0;
  options.threads = 1;
  options.max_handshakes_per_second = 0;
  chatd::net::server server{options, metrics};
  server.listen();
  server.start();

  boost::asio::io_context ioc;
  std::vector<boost::asio::ip::tcp::socket> clients;
  clients.reserve(static_cast<std::size_t>(n));
  auto wait_for = [&](double count) {
    for (int i = 0; i < 1000 && metrics.connections.Value() != count; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  };
  // One connection first: whatever is made once (the room, pools) is not per connection.
  auto connect = [&] {
    auto& s = clients.emplace_back(ioc);
    s.connect({boost::asio::ip::make_address("127.0.0.1"), server.port()});
    const std::string upgrade = "GET /rooms/idle HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    boost::asio::write(s, boost::asio::buffer(upgrade));
  };
  connect();
  wait_for(1);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  auto before = snapshot();
  for (int i = 1; i <= n; ++i)
    connect();
  wait_for(n + 1.0);
  std::this_thread::sleep_for(std::chrono::milliseconds(500)); // answers written, handshake buffers freed
  auto after = snapshot();

  std::printf("heap blocks live per idle connection (%d connections, malloc usable sizes):\n", n);
  long total = 0;
  for (std::size_t i = 0; i <= classes; ++i) {
    const long per_1000 = (after[i] - before[i]) * 1000 / n;
    if (per_1000 < 100)
      continue; // less than one block in ten connections
    const long bytes = static_cast<long>(i * 16);
    std::printf("  %s%5ld B x %.2f\n", i == classes ? ">=" : "~", bytes, per_1000 / 1000.0);
    total += bytes * per_1000 / 1000;
  }
  std::printf("  total: about %ld B (plus malloc's 8-16 B header per block)\n", total);
  std::printf("known sizes: websocket_session %zu B (one make_shared block with its control block); "
              "Asio's per-socket reactor state %zu B; Beast's stream state (one block) holds session_stream "
              "%zu B, a 1536 B read buffer and a %zu B timer\n",
              sizeof(chatd::net::websocket_session), sizeof(boost::asio::detail::epoll_reactor::descriptor_state),
              sizeof(chatd::net::session_stream), sizeof(boost::asio::steady_timer));
  server.stop();
  return 0;
}
