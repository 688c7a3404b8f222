// chatd-presence-bench: what presence costs chatd under connection churn in
// a large room, against a running chatd (pin it and this tool to different
// cores, see bench/README.md).
//
//   chatd-presence-bench PORT PID MEMBERS CHURNERS SECONDS raw|v1|v1-noread [ROOM]
//     MEMBERS idle raw connections stay in ROOM (default "bench"); then
//     CHURNERS threads each connect to ROOM and disconnect again, as fast
//     as chatd lets them, for SECONDS (v1: offering chatd.v1, and reading
//     the presence message chatd sends on joining before closing; v1-noread:
//     offering chatd.v1 without waiting for it, for a chatd without presence).
//     Prints
//     the cycles (one connect + one disconnect) and chatd's CPU per cycle
//     (from /proc/PID/stat).
// Before Asio: Boost 1.74's awaitable.hpp uses std::exchange without it.
#include <utility>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include "../chat_bench/proc_stats.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using clock_type = std::chrono::steady_clock;
using ws_stream = websocket::stream<tcp::socket>;

std::unique_ptr<ws_stream> open(asio::io_context& ioc, unsigned short port, const std::string& room, bool v1) {
  auto ws = std::make_unique<ws_stream>(ioc);
  beast::get_lowest_layer(*ws).connect({asio::ip::address_v4::loopback(), port});
  if (v1)
    ws->set_option(websocket::stream_base::decorator(
        [](websocket::request_type& req) { req.set(beast::http::field::sec_websocket_protocol, "chatd.v1"); }));
  ws->handshake("127.0.0.1", "/rooms/" + room);
  return ws;
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 7) {
    std::fprintf(stderr, "usage: %s PORT PID MEMBERS CHURNERS SECONDS raw|v1|v1-noread [ROOM]\n", argv[0]);
    return 2;
  }
  const auto port = static_cast<unsigned short>(std::atoi(argv[1]));
  const long pid = std::atol(argv[2]);
  const int members = std::atoi(argv[3]);
  const int churners = std::atoi(argv[4]);
  const double seconds = std::atof(argv[5]);
  const std::string protocol = argv[6];
  const bool v1 = protocol.rfind("v1", 0) == 0;
  const bool read_presence = protocol == "v1";
  const std::string room = argc > 7 ? argv[7] : "bench";

  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &limit);

  asio::io_context idle_ioc;
  std::vector<std::unique_ptr<ws_stream>> idle;
  idle.reserve(static_cast<std::size_t>(members));
  for (int i = 0; i < members; ++i)
    idle.push_back(open(idle_ioc, port, room, false));
  std::this_thread::sleep_for(std::chrono::seconds(1));

  std::atomic<std::uint64_t> cycles{0}, failures{0};
  const auto cpu0 = chatbench::read_cpu_s(pid);
  const auto t0 = clock_type::now();
  const auto deadline = t0 + std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(seconds));
  std::vector<std::thread> threads;
  for (int t = 0; t < churners; ++t)
    threads.emplace_back([&] {
      asio::io_context ioc;
      while (clock_type::now() < deadline) {
        try {
          auto ws = open(ioc, port, room, v1);
          if (read_presence) {
            beast::flat_buffer b;
            ws->read(b); // the presence message
          }
          ws->close(websocket::close_code::normal);
          beast::flat_buffer rest;
          beast::error_code ec;
          while (!ec)
            ws->read(rest, ec); // until chatd's close answer
          ++cycles;
        } catch (const std::exception&) {
          ++failures;
        }
      }
    });
  for (auto& t : threads)
    t.join();
  const auto elapsed = std::chrono::duration<double>(clock_type::now() - t0).count();
  const auto cpu = chatbench::read_cpu_s(pid) - cpu0;
  const auto n = static_cast<double>(cycles.load());
  std::printf("members=%d churners=%d protocol=%s seconds=%.1f cycles=%llu failures=%llu cycles/s=%.0f "
              "chatd_cpu_s=%.2f chatd_cpu_pct=%.0f chatd_us_per_cycle=%.1f\n",
              members, churners, protocol.c_str(), elapsed, static_cast<unsigned long long>(cycles.load()),
              static_cast<unsigned long long>(failures.load()), n / elapsed, cpu, 100 * cpu / elapsed,
              n > 0 ? 1e6 * cpu / n : 0.0);
  return 0;
}
