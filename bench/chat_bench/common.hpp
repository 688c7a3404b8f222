// What chat-bench's pub/sub workloads share (fanout, cluster, echo, idle):
// options, the connection (connect, handshake, frame parsing, receipt
// accounting), per-thread workers and counters, and the JSON/Markdown report.
// Each workload (fanout.cpp, echo.cpp, idle.cpp) says what its connections
// are and how its traffic starts; main.cpp drives a run through its phases.
// steady (steady.hpp) is separate: its clients reconnect.
#pragma once

// Before Asio: Boost 1.74's awaitable.hpp uses std::exchange without it.
#include <utility>

#include <boost/asio.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "histogram.hpp"
#include "payload.hpp"
#include "proc_stats.hpp"

namespace chatbench {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

inline uint64_t now_ns() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

// ---- options

struct Target {
  std::string url, host, path;
  uint16_t port = 0;
};

constexpr int kMaxNodes = 16;

struct Config {
  std::string url = "ws://127.0.0.1:9000/rooms/bench"; // the first of urls
  std::vector<std::string> urls;                       // every --url (comma lists split)
  std::vector<Target> targets;
  std::string host = "127.0.0.1";
  uint16_t port = 9000;
  std::string path = "/rooms/bench";
  std::string workload = "fanout";
  std::string label = "server";
  std::string json_file;
  int clients = 100;    // subscribers (fanout), clients (echo, idle)
  int publishers = 4;   // fanout
  double rate = 100;    // msgs/s per publisher (fanout)
  double duration = 10; // measured seconds
  double warmup = 1;    // seconds before the measured window
  double drain = 3;     // max seconds to wait for in-flight deliveries
  double connect_timeout = 60;
  int threads = 1;
  int src_addrs = 8;               // 127.0.0.1 .. 127.0.0.K
  int max_inflight_connects = 256; // per thread
  long server_pid = 0;             // the first of server_pids: RSS is read from it
  std::vector<long> server_pids;   // --server-pid PID[,PID...]: CPU time is summed over all (cluster nodes)
  int src_base = 1;                // first source address 127.0.0.<src_base>
  int index_base = 0;              // first connection index (echo rooms PATH-e<i>) when split over processes
  int expect_publishers = 0;       // publisher ids to expect when --publishers 0 (subscriber-only process)
  bool sync_stdin = false;         // print "ready N" after connecting, read "go <steady ns>" from stdin
  bool dump_hist = false;          // add the latency histogram's buckets to the JSON
  // steady
  long pub_id_base = 0;       // publisher ids from here (unique across processes)
  double attempt_timeout = 2; // one connect + handshake attempt
  double backoff_max = 1;     // reconnect backoff cap (from 0.1 s, doubling)
  bool v1 = false;            // speak chatd.v1 (steady only)
};

// Parses and checks the command line; prints usage and exits on a bad one.
Config parse_args(int argc, char** argv);

// ---- the server process (/proc)

// read_rss_kb, read_cpu_s: proc_stats.hpp

std::string json_escape(const std::string& s);

// ---- run state, counters, connections

// Shared, read-mostly run state.
struct Run {
  Config cfg;
  std::vector<tcp::endpoint> servers; // one per target
  std::atomic<uint64_t> t_start{0};   // publishing starts
  std::atomic<uint64_t> t_measure{0}; // measured window [t_measure, t_end)
  std::atomic<uint64_t> t_end{0};     // no sends from here on
  std::atomic<bool> stopping{false};
};

// Per-thread counters; the owning thread writes (relaxed), main reads for progress.
struct Stats {
  std::atomic<uint64_t> connected{0}, connect_failed{0}, closed_by_server{0}, errors{0};
  std::atomic<uint64_t> sent{0}, sent_window{0}, received{0}, received_window{0};
  std::atomic<uint64_t> order_violations{0}, gaps{0}, bad_payloads{0};
  static void inc(std::atomic<uint64_t>& a, uint64_t n = 1) {
    a.store(a.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
};

enum class Role { subscriber, publisher, echo, idle };

struct Worker;

constexpr std::size_t kReadBuf = 4096;
constexpr int kMaxBatch = 64; // frames per publisher write

struct Conn {
  Worker* w;
  Run* run;
  int index;
  int node = 0; // index into cfg.targets
  Role role;
  uint32_t pub_id = 0; // publishers and echo clients
  tcp::socket sock;
  asio::ip::address_v4 src;
  std::string path;
  std::unique_ptr<uint8_t[]> rbuf{new uint8_t[kReadBuf]};
  std::size_t rlen = 0;
  bool upgraded = false;
  bool dead = false;
  std::vector<uint64_t> next_seq; // per publisher id: next expected seq
  // sending side
  ClientFrame frame;
  std::unique_ptr<uint8_t[]> wbuf;
  uint64_t seq = 0;
  bool writing = false;
  std::optional<asio::steady_timer> timer;
  std::string handshake;

  Conn(Worker* w_, Run* r, asio::io_context& ioc, int idx, Role ro)
    : w(w_)
    , run(r)
    , index(idx)
    , role(ro)
    , sock(ioc)
    , frame(0x5bd1e995u ^ static_cast<uint32_t>(idx)) {}

  // common.cpp: connect, handshake, read and account for every message
  void start();
  void fail(bool during_connect);
  void read_handshake();
  void read_frames();
  void on_frames();
  void on_message(const uint8_t* p, std::size_t n);
  // fanout.cpp
  void publish_tick();
  // echo.cpp
  void echo_send();
};

struct Worker {
  asio::io_context ioc{1};
  Stats stats;
  Histogram hist;
  std::vector<Histogram> node_hist; // per target (cluster)
  std::array<std::atomic<uint64_t>, kMaxNodes> node_recv{}, node_recv_window{};
  std::vector<std::unique_ptr<Conn>> conns;
  std::size_t next_to_start = 0;
  int inflight = 0;
  Run* run = nullptr;

  void start_more() {
    while (inflight < run->cfg.max_inflight_connects && next_to_start < conns.size()) {
      ++inflight;
      conns[next_to_start++]->start();
    }
  }
  void connect_done() {
    --inflight;
    start_more();
  }
};

struct Totals {
  uint64_t connected = 0, connect_failed = 0, closed_by_server = 0, errors = 0, sent = 0, sent_window = 0, received = 0,
           received_window = 0, order_violations = 0, gaps = 0, bad_payloads = 0;
};

Totals sum(const std::vector<std::unique_ptr<Worker>>& ws);

// ---- workloads

// What differs between the workloads: who the connections are and how the
// traffic starts. The run itself (connect, common start, measured window,
// drain, report) is the same for all (main.cpp).
class Workload {
public:
  virtual ~Workload() = default;
  // Connections the run opens.
  virtual int connections(const Config& c) const { return c.clients; }
  // Connection i (index, source address set): its role, node, room path and send buffers.
  virtual std::unique_ptr<Conn> make_conn(Run& run, Worker& w, int i) const = 0;
  // On the worker's thread, once every connection is up: start the traffic at `start_ns` (steady clock).
  virtual void begin(Worker&, uint64_t /*start_ns*/) const {}
};

std::unique_ptr<Workload> make_fanout(const Config& c); // fanout.cpp: fanout and cluster
std::unique_ptr<Workload> make_echo(const Config& c);   // echo.cpp
std::unique_ptr<Workload> make_idle(const Config& c);   // idle.cpp

// Markdown lines for cluster runs (fanout.cpp): members, receipts and latency per node.
struct NodeReport {
  std::string url;
  uint64_t members = 0, received = 0, received_window = 0;
  const Histogram* hist = nullptr;
};
std::string cluster_node_lines(const std::vector<NodeReport>& nodes, double duration);

// ---- report

// Everything a run measured, for the JSON object and the Markdown row.
struct Report {
  Totals fin;
  double connect_s = 0, drain_s = 0;
  uint64_t members = 0;
  const Histogram* hist = nullptr;
  std::vector<NodeReport> nodes;
  const Histogram* cross_hist = nullptr; // every node but the first
  uint64_t cross_received_window = 0;
  double cpu_s = -1;        // the server's (all --server-pid) over the window
  double client_cpu_s = -1; // this process's over the window
  long rss_before = -1, rss_idle = -1;
};

// Writes the JSON (stdout or --json) and the Markdown row; returns the exit
// status: 0 when every count adds up, 1 otherwise.
int write_report(const Run& run, const Report& r);

} // namespace chatbench
