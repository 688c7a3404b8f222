// chat-bench: a WebSocket load generator for chatd and its peers (see
// bench/README.md and BENCH.md for the workloads).
//
//   chat-bench --url ws://127.0.0.1:9000/rooms/bench --workload fanout
//              --clients 1000 --publishers 4 --rate 100 --duration 10
//
// Design: T worker threads, each with its own io_context; connections are
// spread over them and over source addresses 127.0.0.1..127.0.0.K (bound
// before connect, with IP_BIND_ADDRESS_NO_PORT, so ports are picked per
// 4-tuple). Frames are pre-masked and stamped in place; every connection has
// one fixed receive buffer; the hot path allocates nothing. Each receiver
// records latency (send time -> receipt) in a per-thread log-bucketed
// histogram, counts every delivery and checks per-publisher order.
// cluster: several --url (nodes); subscribers round-robin over them,
// publishers on the first; per-node and cross-node figures. Several
// processes (bench/compare): --sync-stdin gives them one start time,
// --dump-hist lets the histograms be merged exactly.
//
// Files: common.hpp/.cpp (options, the connection, counters, the report),
// fanout.cpp (fanout and cluster), echo.cpp, idle.cpp, steady.cpp (its own
// reconnecting clients); here: main() and the phases of a run (connect, one
// common start, the measured window, a bounded drain, the report).
#include "common.hpp"
#include "steady.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

using namespace chatbench;

int main(int argc, char** argv) {
  Run run;
  run.cfg = parse_args(argc, argv);
  Config& cfg = run.cfg;
  for (auto& tg : cfg.targets) {
    boost::system::error_code ec;
    auto addr = asio::ip::make_address(tg.host, ec);
    if (ec) {
      std::fprintf(stderr, "chat-bench: host must be an IP address (got %s)\n", tg.host.c_str());
      return 2;
    }
    run.servers.emplace_back(addr, tg.port);
  }
  const int nodes = static_cast<int>(cfg.targets.size());
  if (cfg.workload == "steady") {
    SteadyOptions so;
    so.host = cfg.host;
    so.port = cfg.port;
    so.path = cfg.path;
    so.label = cfg.label;
    so.subscribers = cfg.clients;
    so.publishers = cfg.publishers;
    so.pub_id_base = static_cast<uint32_t>(cfg.pub_id_base);
    so.rate = cfg.rate;
    so.duration = cfg.duration;
    so.drain = cfg.drain;
    so.connect_timeout = cfg.connect_timeout;
    so.attempt_timeout = cfg.attempt_timeout;
    so.backoff_max = cfg.backoff_max;
    so.sync_stdin = cfg.sync_stdin;
    so.v1 = cfg.v1;
    so.json_file = cfg.json_file;
    return run_steady(so);
  }

  const bool cluster = cfg.workload == "cluster";
  const bool fanout = cfg.workload == "fanout" || cluster; // cluster: fanout spread over nodes
  const bool echo = cfg.workload == "echo";
  std::unique_ptr<Workload> wl = fanout ? make_fanout(cfg) : echo ? make_echo(cfg) : make_idle(cfg);
  const int total = wl->connections(cfg);
  struct rlimit rl {};
  getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
  }
  if (static_cast<rlim_t>(total) + 64 > rl.rlim_cur) {
    std::fprintf(stderr,
                 "chat-bench: %d connections need more than the open-file limit (%llu); "
                 "split the clients over several chat-bench processes\n",
                 total, static_cast<unsigned long long>(rl.rlim_cur));
    return 2;
  }

  std::vector<std::unique_ptr<Worker>> workers;
  for (int t = 0; t < cfg.threads; ++t) {
    workers.push_back(std::make_unique<Worker>());
    workers.back()->run = &run;
    workers.back()->node_hist.resize(nodes);
  }
  for (int i = 0; i < total; ++i) {
    Worker* w = workers[i % cfg.threads].get();
    auto c = wl->make_conn(run, *w, i);
    c->src = asio::ip::address_v4(0x7f000000u + static_cast<uint32_t>(cfg.src_base + i % cfg.src_addrs));
    w->conns.push_back(std::move(c));
  }

  long rss_before = read_rss_kb(cfg.server_pid);
  run.t_measure = UINT64_MAX;
  run.t_end = UINT64_MAX;

  std::vector<std::thread> threads;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  for (auto& w : workers) {
    guards.push_back(asio::make_work_guard(w->ioc));
    asio::post(w->ioc, [wp = w.get()] { wp->start_more(); });
    threads.emplace_back([wp = w.get()] { wp->ioc.run(); });
  }

  auto progress = [&](const char* phase, double t) {
    Totals s = sum(workers);
    std::fprintf(stderr,
                 "[%s %5.1fs] conns %" PRIu64 "/%d (failed %" PRIu64 ", closed %" PRIu64 ") sent %" PRIu64
                 " recv %" PRIu64 " order %" PRIu64 "\n",
                 phase, t, s.connected, total, s.connect_failed, s.closed_by_server, s.sent, s.received,
                 s.order_violations);
  };

  // 1. connect
  uint64_t t_conn0 = now_ns();
  for (int tick = 0;; ++tick) {
    Totals s = sum(workers);
    if (s.connected + s.connect_failed >= static_cast<uint64_t>(total))
      break;
    double el = static_cast<double>(now_ns() - t_conn0) / 1e9;
    if (el > cfg.connect_timeout) {
      std::fprintf(stderr, "chat-bench: connect timeout\n");
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (tick % 10 == 9)
      progress("connect", el);
  }
  double connect_s = static_cast<double>(now_ns() - t_conn0) / 1e9;
  progress("connect", connect_s);
  Totals after_connect = sum(workers);
  uint64_t members = after_connect.connected;
  // wait a moment so the server has registered every member in the room
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  std::vector<uint64_t> node_members(nodes, 0);
  for (auto& w : workers) {
    std::promise<void> done;
    asio::post(w->ioc, [&, wp = w.get()] {
      for (auto& c : wp->conns)
        if (c->upgraded && !c->dead)
          ++node_members[c->node];
      done.set_value();
    });
    done.get_future().wait();
  }

  // 2. run
  uint64_t start = now_ns() + 20'000'000;
  if (cfg.sync_stdin) { // several processes: one common start time (CLOCK_MONOTONIC ns)
    std::printf("ready %" PRIu64 "\n", members);
    std::fflush(stdout);
    std::string line;
    if (!std::getline(std::cin, line) || line.rfind("go ", 0) != 0) {
      std::fprintf(stderr, "chat-bench: --sync-stdin: no 'go <ns>' line\n");
      std::_Exit(2);
    }
    start = std::strtoull(line.c_str() + 3, nullptr, 10);
  }
  run.t_start = start;
  run.t_measure = start + static_cast<uint64_t>(cfg.warmup * 1e9);
  run.t_end = start + static_cast<uint64_t>((cfg.warmup + cfg.duration) * 1e9);
  double cpu0 = -1, cpu1 = -1;
  long rss_idle = -1;
  if (fanout || echo)
    for (auto& w : workers)
      asio::post(w->ioc, [wp = w.get(), &wl, start] { wl->begin(*wp, start); });
  while (now_ns() < run.t_measure)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  cpu0 = read_cpu_s(cfg.server_pids);
  const double self0 = read_cpu_s(static_cast<long>(getpid()));
  uint64_t tm = run.t_measure;
  uint64_t next_progress = tm + 1'000'000'000;
  while (now_ns() < run.t_end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (now_ns() >= next_progress) {
      progress(cfg.workload.c_str(), static_cast<double>(now_ns() - tm) / 1e9);
      next_progress += 1'000'000'000;
    }
  }
  cpu1 = read_cpu_s(cfg.server_pids);
  const double self1 = read_cpu_s(static_cast<long>(getpid()));
  if (!fanout && !echo)
    rss_idle = read_rss_kb(cfg.server_pid);

  // 3. drain: wait for in-flight deliveries (bounded)
  uint64_t drain_until = now_ns() + static_cast<uint64_t>(cfg.drain * 1e9);
  Totals fin;
  uint64_t last_recv = UINT64_MAX, quiet_since = now_ns();
  for (;;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    fin = sum(workers);
    uint64_t expected = fanout ? fin.sent * members : fin.sent;
    if (fin.received != last_recv) {
      last_recv = fin.received;
      quiet_since = now_ns();
    }
    // subscriber-only process (--publishers 0): it cannot know what was sent; wait for 500 ms of quiet
    bool sub_only = fanout && cfg.publishers == 0;
    if ((!sub_only && fin.received >= expected) || (sub_only && now_ns() - quiet_since > 500'000'000) ||
        now_ns() >= drain_until)
      break;
  }
  double drain_s = static_cast<double>(now_ns() - run.t_end) / 1e9;
  progress("done", static_cast<double>(now_ns() - tm) / 1e9);

  // 4. stop
  run.stopping = true;
  for (auto& w : workers)
    w->ioc.stop();
  for (auto& t : threads)
    t.join();
  fin = sum(workers);
  Histogram h;
  for (auto& w : workers)
    h.merge(w->hist);

  // 5. report: per node (cluster): members, receipts, latency; "cross" = every node but the first
  Report rep;
  rep.fin = fin;
  rep.connect_s = connect_s;
  rep.drain_s = drain_s;
  rep.members = members;
  rep.hist = &h;
  std::vector<Histogram> node_h(nodes);
  Histogram cross_h;
  rep.nodes.resize(nodes);
  for (int k = 0; k < nodes; ++k) {
    NodeReport& n = rep.nodes[k];
    n.url = cfg.targets[k].url;
    n.members = node_members[k];
    for (auto& w : workers) {
      n.received += w->node_recv[k].load(std::memory_order_relaxed);
      n.received_window += w->node_recv_window[k].load(std::memory_order_relaxed);
      node_h[k].merge(w->node_hist[k]);
      if (k > 0)
        cross_h.merge(w->node_hist[k]);
    }
    n.hist = &node_h[k];
    if (k > 0)
      rep.cross_received_window += n.received_window;
  }
  rep.cross_hist = &cross_h;
  rep.cpu_s = (cpu0 >= 0 && cpu1 >= 0) ? cpu1 - cpu0 : -1;
  rep.client_cpu_s = (self0 >= 0 && self1 >= 0) ? self1 - self0 : -1;
  rep.rss_before = rss_before;
  rep.rss_idle = rss_idle;
  int status = write_report(run, rep);
  // Destroy connections (sockets) before their io_contexts.
  for (auto& w : workers)
    w->conns.clear();
  return status;
}
