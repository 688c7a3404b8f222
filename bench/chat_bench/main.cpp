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
// Before Asio: Boost 1.74's awaitable.hpp uses std::exchange without it.
#include <utility>

#include <boost/asio.hpp>

#include <netinet/in.h>
#include <sys/resource.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <future>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "histogram.hpp"
#include "payload.hpp"
#include "steady.hpp"

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace chatbench;

namespace {

uint64_t now_ns() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

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
  long server_pid = 0;
  int src_base = 1;          // first source address 127.0.0.<src_base>
  int index_base = 0;        // first connection index (echo rooms PATH-e<i>) when split over processes
  int expect_publishers = 0; // publisher ids to expect when --publishers 0 (subscriber-only process)
  bool sync_stdin = false;   // print "ready N" after connecting, read "go <steady ns>" from stdin
  bool dump_hist = false;    // add the latency histogram's buckets to the JSON
  // steady
  long pub_id_base = 0;       // publisher ids from here (unique across processes)
  double attempt_timeout = 2; // one connect + handshake attempt
  double backoff_max = 1;     // reconnect backoff cap (from 0.1 s, doubling)
};

[[noreturn]] void usage(int code) {
  std::fprintf(code ? stderr : stdout,
               "usage: chat-bench [options]\n"
               "  --url ws://HOST:PORT/PATH   server and room (default ws://127.0.0.1:9000/rooms/bench)\n"
               "  --url may be repeated or a comma list (cluster: one per node; others use the first)\n"
               "  --workload fanout|cluster|echo|idle|steady\n"
               "  --clients N        subscribers (fanout) / clients (echo, idle)   [100]\n"
               "  --publishers S     publishers (fanout), also room members       [4]\n"
               "  --rate R           msgs/s per publisher (fanout)                [100]\n"
               "  --duration SEC     measured window                              [10]\n"
               "  --warmup SEC       unmeasured lead-in                           [1]\n"
               "  --drain SEC        max wait for in-flight messages after        [3]\n"
               "  --connect-timeout SEC                                           [60]\n"
               "  --threads T        client threads                               [1]\n"
               "  --src-addrs K      source addresses 127.0.0.1..K                [8]\n"
               "  --server-pid PID   read server RSS and CPU time from /proc\n"
               "  --label NAME       server name in the output                    [server]\n"
               "  --src-base X       first source address 127.0.0.X               [1]\n"
               "  --index-base I     first connection index (split runs)          [0]\n"
               "  --expect-publishers S  with --publishers 0: subscriber-only process\n"
               "  --sync-stdin       after connecting print 'ready N', wait for 'go <CLOCK_MONOTONIC ns>'\n"
               "  --dump-hist        add latency histogram buckets [[index,count],...] to the JSON\n"
               "  --json FILE        write JSON there (else to stdout)\n"
               "  --pub-id-base B    steady: publisher ids B..B+S-1                [0]\n"
               "  --attempt-timeout SEC  steady: one connect + handshake attempt     [2]\n"
               "  --backoff-max SEC  steady: reconnect backoff cap (from 0.1 s)       [1]\n"
               "cluster: like fanout; subscribers spread round-robin over the URLs (nodes),\n"
               "  publishers on the first URL; per-node and cross-node (not first URL) figures.\n"
               "echo: each client is alone in room PATH-e<i> with one message in flight.\n"
               "idle: RSS per connection = (server RSS with N idle clients - RSS before) / N.\n"
               "steady: N subscribers and S publishers (R msgs/s each for --duration) on the first URL;\n"
               "  clients reconnect when dropped; the JSON lists every message sent (seq, time,\n"
               "  connection) and what each subscriber received and when it was connected.\n");
  std::exit(code);
}

bool parse_url(Target& c) {
  const std::string pre = "ws://";
  if (c.url.rfind(pre, 0) != 0)
    return false;
  std::string rest = c.url.substr(pre.size());
  auto slash = rest.find('/');
  std::string hp = slash == std::string::npos ? rest : rest.substr(0, slash);
  c.path = slash == std::string::npos ? "/" : rest.substr(slash);
  auto colon = hp.rfind(':');
  if (colon == std::string::npos) {
    c.host = hp;
    c.port = 80;
  } else {
    c.host = hp.substr(0, colon);
    c.port = static_cast<uint16_t>(std::atoi(hp.substr(colon + 1).c_str()));
  }
  return !c.host.empty() && c.port != 0;
}

Config parse_args(int argc, char** argv) {
  Config c;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "chat-bench: %s needs a value\n", a.c_str());
        usage(2);
      }
      return argv[++i];
    };
    if (a == "--help" || a == "-h")
      usage(0);
    else if (a == "--url") {
      std::string v = val();
      std::size_t pos = 0;
      while (pos <= v.size()) {
        auto comma = v.find(',', pos);
        std::string u = v.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
        if (!u.empty())
          c.urls.push_back(u);
        if (comma == std::string::npos)
          break;
        pos = comma + 1;
      }
    } else if (a == "--src-base")
      c.src_base = std::atoi(val().c_str());
    else if (a == "--index-base")
      c.index_base = std::atoi(val().c_str());
    else if (a == "--expect-publishers")
      c.expect_publishers = std::atoi(val().c_str());
    else if (a == "--sync-stdin")
      c.sync_stdin = true;
    else if (a == "--dump-hist")
      c.dump_hist = true;
    else if (a == "--pub-id-base")
      c.pub_id_base = std::atol(val().c_str());
    else if (a == "--attempt-timeout")
      c.attempt_timeout = std::atof(val().c_str());
    else if (a == "--backoff-max")
      c.backoff_max = std::atof(val().c_str());
    else if (a == "--workload")
      c.workload = val();
    else if (a == "--clients")
      c.clients = std::atoi(val().c_str());
    else if (a == "--publishers")
      c.publishers = std::atoi(val().c_str());
    else if (a == "--rate")
      c.rate = std::atof(val().c_str());
    else if (a == "--duration")
      c.duration = std::atof(val().c_str());
    else if (a == "--warmup")
      c.warmup = std::atof(val().c_str());
    else if (a == "--drain")
      c.drain = std::atof(val().c_str());
    else if (a == "--connect-timeout")
      c.connect_timeout = std::atof(val().c_str());
    else if (a == "--threads")
      c.threads = std::atoi(val().c_str());
    else if (a == "--src-addrs")
      c.src_addrs = std::atoi(val().c_str());
    else if (a == "--server-pid")
      c.server_pid = std::atol(val().c_str());
    else if (a == "--label")
      c.label = val();
    else if (a == "--json")
      c.json_file = val();
    else {
      std::fprintf(stderr, "chat-bench: unknown option %s\n", a.c_str());
      usage(2);
    }
  }
  if (c.urls.empty())
    c.urls.push_back(c.url);
  if (c.urls.size() > static_cast<std::size_t>(kMaxNodes)) {
    std::fprintf(stderr, "chat-bench: at most %d URLs\n", kMaxNodes);
    std::exit(2);
  }
  for (auto& u : c.urls) {
    Target t;
    t.url = u;
    if (!parse_url(t)) {
      std::fprintf(stderr, "chat-bench: bad --url %s (want ws://host:port/path)\n", u.c_str());
      std::exit(2);
    }
    c.targets.push_back(t);
  }
  c.url = c.targets[0].url;
  c.host = c.targets[0].host;
  c.port = c.targets[0].port;
  c.path = c.targets[0].path;
  if (c.workload != "fanout" && c.workload != "cluster" && c.workload != "echo" && c.workload != "idle" &&
      c.workload != "steady") {
    std::fprintf(stderr, "chat-bench: unknown workload %s (fanout, cluster, echo, idle, steady)\n", c.workload.c_str());
    std::exit(2);
  }
  if (c.workload == "steady") {
    if (c.clients < 0 || c.publishers < 0 || c.clients + c.publishers < 1 || c.rate <= 0 || c.duration <= 0 ||
        c.pub_id_base < 0 || c.pub_id_base + c.publishers > UINT32_MAX || c.attempt_timeout <= 0 ||
        c.backoff_max < 0.1) {
      std::fprintf(stderr, "chat-bench: bad numbers for steady (clients, publishers, rate, duration, ids, backoff)\n");
      std::exit(2);
    }
    return c;
  }
  const bool pubsub = c.workload == "fanout" || c.workload == "cluster";
  if (c.clients < 1 || c.threads < 1 || c.src_addrs < 1 || c.src_base < 1 || c.src_base + c.src_addrs - 1 > 254 ||
      (pubsub && (c.publishers < 0 || (c.publishers == 0 && c.expect_publishers < 1) || c.rate <= 0)) ||
      c.duration <= 0) {
    std::fprintf(stderr, "chat-bench: bad numbers (clients, publishers, rate, threads, duration)\n");
    std::exit(2);
  }
  return c;
}

long read_rss_kb(long pid) {
  if (pid <= 0)
    return -1;
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::atol(line.c_str() + 6);
  return -1;
}

double read_cpu_s(long pid) {
  if (pid <= 0)
    return -1;
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto rp = s.rfind(')');
  if (rp == std::string::npos)
    return -1;
  std::istringstream in(s.substr(rp + 2));
  std::string tok;
  unsigned long long ut = 0, st = 0;
  for (int field = 3; in >> tok; ++field) { // field 3 is state
    if (field == 14)
      ut = std::strtoull(tok.c_str(), nullptr, 10);
    if (field == 15) {
      st = std::strtoull(tok.c_str(), nullptr, 10);
      break;
    }
  }
  return static_cast<double>(ut + st) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

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

  void start();
  void fail(bool during_connect);
  void read_handshake();
  void read_frames();
  void on_frames();
  void on_message(const uint8_t* p, std::size_t n);
  void publish_tick();
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

void Conn::fail(bool during_connect) {
  if (dead)
    return;
  dead = true;
  boost::system::error_code ec;
  sock.close(ec);
  if (timer)
    timer->cancel();
  if (during_connect) {
    Stats::inc(w->stats.connect_failed);
    w->connect_done();
  } else if (!run->stopping.load(std::memory_order_relaxed)) {
    Stats::inc(w->stats.errors);
  }
}

void Conn::start() {
  boost::system::error_code ec;
  sock.open(tcp::v4(), ec);
  if (!ec) {
    int one = 1;
#ifdef IP_BIND_ADDRESS_NO_PORT
    ::setsockopt(sock.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
#endif
    sock.set_option(tcp::no_delay(true), ec);
    sock.bind(tcp::endpoint(src, 0), ec);
  }
  if (ec) {
    fail(true);
    return;
  }
  const Target& tg = run->cfg.targets[node];
  handshake = "GET " + path + " HTTP/1.1\r\nHost: " + tg.host + ":" + std::to_string(tg.port) +
              "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  sock.async_connect(run->servers[node], [this](boost::system::error_code ec2) {
    if (ec2)
      return fail(true);
    asio::async_write(sock, asio::buffer(handshake), [this](boost::system::error_code ec3, std::size_t) {
      if (ec3)
        return fail(true);
      read_handshake();
    });
  });
}

void Conn::read_handshake() {
  sock.async_read_some(asio::buffer(rbuf.get() + rlen, kReadBuf - rlen),
                       [this](boost::system::error_code ec, std::size_t n) {
                         if (ec)
                           return fail(true);
                         rlen += n;
                         std::string_view v(reinterpret_cast<char*>(rbuf.get()), rlen);
                         auto end = v.find("\r\n\r\n");
                         if (end == std::string_view::npos) {
                           if (rlen == kReadBuf)
                             return fail(true);
                           return read_handshake();
                         }
                         if (v.substr(0, 12) != "HTTP/1.1 101")
                           return fail(true);
                         std::size_t hdr = end + 4;
                         std::memmove(rbuf.get(), rbuf.get() + hdr, rlen - hdr);
                         rlen -= hdr;
                         upgraded = true;
                         std::string().swap(handshake);
                         Stats::inc(w->stats.connected);
                         w->connect_done();
                         on_frames();
                       });
}

void Conn::read_frames() {
  sock.async_read_some(asio::buffer(rbuf.get() + rlen, kReadBuf - rlen),
                       [this](boost::system::error_code ec, std::size_t n) {
                         if (ec)
                           return fail(false);
                         rlen += n;
                         on_frames();
                       });
}

void Conn::on_frames() {
  std::size_t off = 0;
  uint8_t* b = rbuf.get();
  for (;;) {
    std::size_t avail = rlen - off;
    ServerFrame fr;
    const FrameParse parsed = parse_server_frame(b + off, avail, fr);
    if (parsed == FrameParse::need_more)
      break;
    if (parsed == FrameParse::masked) { // servers never mask
      Stats::inc(w->stats.bad_payloads);
      return fail(false);
    }
    const uint8_t op = fr.opcode;
    const std::size_t hdr = fr.header;
    const uint64_t len = fr.length;
    if (hdr + len > kReadBuf) { // never sent by the workloads
      Stats::inc(w->stats.bad_payloads);
      return fail(false);
    }
    if (avail < hdr + len)
      break;
    const uint8_t* p = b + off + hdr;
    off += hdr + len;
    if (op == 0x1 || op == 0x2) {
      on_message(p, len);
    } else if (op == 0x8) {
      Stats::inc(w->stats.closed_by_server);
      dead = true;
      boost::system::error_code ec;
      sock.close(ec);
      return;
    } // ping/pong: ignored (runs are shorter than the servers' idle timeouts)
  }
  if (off) {
    std::memmove(b, b + off, rlen - off);
    rlen -= off;
  }
  read_frames();
}

void Conn::on_message(const uint8_t* p, std::size_t n) {
  Payload m;
  if (!decode_payload(p, n, m)) {
    Stats::inc(w->stats.bad_payloads);
    return;
  }
  uint64_t now = now_ns();
  Stats::inc(w->stats.received);
  Stats::inc(w->node_recv[node]);
  uint64_t t0 = run->t_measure.load(std::memory_order_relaxed);
  uint64_t t1 = run->t_end.load(std::memory_order_relaxed);
  if (m.sent_ns >= t0 && m.sent_ns < t1) {
    Stats::inc(w->stats.received_window);
    Stats::inc(w->node_recv_window[node]);
    uint64_t lat = now > m.sent_ns ? now - m.sent_ns : 0;
    w->hist.record(lat);
    w->node_hist[node].record(lat);
  }
  if (m.publisher < next_seq.size()) {
    uint64_t& want = next_seq[m.publisher];
    if (m.seq < want)
      Stats::inc(w->stats.order_violations);
    else {
      if (m.seq > want)
        Stats::inc(w->stats.gaps);
      want = m.seq + 1;
    }
  } else {
    Stats::inc(w->stats.bad_payloads);
  }
  if (role == Role::echo && m.publisher == pub_id)
    echo_send();
}

void Conn::echo_send() {
  if (dead)
    return;
  uint64_t now = now_ns();
  if (now >= run->t_end.load(std::memory_order_relaxed))
    return;
  Payload m{pub_id, seq++, now};
  frame.stamp(wbuf.get(), m);
  Stats::inc(w->stats.sent);
  if (now >= run->t_measure.load(std::memory_order_relaxed))
    Stats::inc(w->stats.sent_window);
  asio::async_write(sock, asio::buffer(wbuf.get(), kFrameSize), [this](boost::system::error_code ec, std::size_t) {
    if (ec)
      fail(false);
  });
}

void Conn::publish_tick() {
  if (dead)
    return;
  const Config& c = run->cfg;
  uint64_t now = now_ns();
  uint64_t start = run->t_start.load(std::memory_order_relaxed);
  uint64_t end = run->t_end.load(std::memory_order_relaxed);
  uint64_t until = now < end ? now : end;
  // messages due by `until` on a fixed schedule
  uint64_t due_total = until > start ? static_cast<uint64_t>(static_cast<double>(until - start) * c.rate / 1e9) + 1 : 0;
  if (!writing && due_total > seq) {
    uint64_t n = due_total - seq;
    if (n > kMaxBatch)
      n = kMaxBatch;
    uint64_t t_measure = run->t_measure.load(std::memory_order_relaxed);
    for (uint64_t i = 0; i < n; ++i) {
      Payload m{pub_id, seq++, now};
      frame.stamp(wbuf.get() + i * kFrameSize, m);
    }
    Stats::inc(w->stats.sent, n);
    if (now >= t_measure && now < end)
      Stats::inc(w->stats.sent_window, n);
    writing = true;
    asio::async_write(sock, asio::buffer(wbuf.get(), n * kFrameSize),
                      [this](boost::system::error_code ec, std::size_t) {
                        writing = false;
                        if (ec)
                          fail(false);
                      });
  }
  if (now >= end)
    return;
  uint64_t period = static_cast<uint64_t>(1e9 / c.rate);
  if (period < 1'000'000)
    period = 1'000'000; // tick at most every 1 ms; batch
  timer->expires_after(std::chrono::nanoseconds(period));
  timer->async_wait([this](boost::system::error_code ec) {
    if (!ec)
      publish_tick();
  });
}

struct Totals {
  uint64_t connected = 0, connect_failed = 0, closed_by_server = 0, errors = 0, sent = 0, sent_window = 0, received = 0,
           received_window = 0, order_violations = 0, gaps = 0, bad_payloads = 0;
};

Totals sum(const std::vector<std::unique_ptr<Worker>>& ws) {
  Totals t;
  for (auto& w : ws) {
    auto g = [](const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); };
    t.connected += g(w->stats.connected);
    t.connect_failed += g(w->stats.connect_failed);
    t.closed_by_server += g(w->stats.closed_by_server);
    t.errors += g(w->stats.errors);
    t.sent += g(w->stats.sent);
    t.sent_window += g(w->stats.sent_window);
    t.received += g(w->stats.received);
    t.received_window += g(w->stats.received_window);
    t.order_violations += g(w->stats.order_violations);
    t.gaps += g(w->stats.gaps);
    t.bad_payloads += g(w->stats.bad_payloads);
  }
  return t;
}

std::string json_escape(const std::string& s) {
  std::string o;
  for (char ch : s) {
    if (ch == '"' || ch == '\\')
      o += '\\';
    o += ch;
  }
  return o;
}

} // namespace

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
    so.json_file = cfg.json_file;
    return run_steady(so);
  }

  const bool cluster = cfg.workload == "cluster";
  const bool fanout = cfg.workload == "fanout" || cluster; // cluster: fanout spread over nodes
  const int pub_ids = cfg.publishers > 0 ? cfg.publishers : cfg.expect_publishers;
  const bool echo = cfg.workload == "echo";
  const int total = cfg.clients + (fanout ? cfg.publishers : 0);
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
  std::vector<uint64_t> node_members_planned(nodes, 0);
  // Publishers first so they are connected early; all in one room (fanout).
  for (int i = 0; i < total; ++i) {
    Worker* w = workers[i % cfg.threads].get();
    Role role = fanout ? (i < cfg.publishers ? Role::publisher : Role::subscriber) : (echo ? Role::echo : Role::idle);
    auto c = std::make_unique<Conn>(w, &run, w->ioc, i, role);
    c->src = asio::ip::address_v4(0x7f000000u + static_cast<uint32_t>(cfg.src_base + i % cfg.src_addrs));
    // cluster: publishers on the first URL, subscribers round-robin over all URLs
    c->node = (cluster && role == Role::subscriber) ? (i - cfg.publishers) % nodes : 0;
    c->path = echo ? cfg.targets[c->node].path + "-e" + std::to_string(cfg.index_base + i) : cfg.targets[c->node].path;
    ++node_members_planned[c->node];
    if (fanout) {
      c->next_seq.assign(pub_ids, 0);
      if (role == Role::publisher) {
        c->pub_id = static_cast<uint32_t>(i);
        c->wbuf.reset(new uint8_t[kMaxBatch * kFrameSize]);
        for (int k = 0; k < kMaxBatch; ++k)
          c->frame.build(c->wbuf.get() + k * kFrameSize, Payload{c->pub_id, 0, 0});
        c->timer.emplace(w->ioc);
      }
    } else if (echo) {
      c->pub_id = 0; // alone in its room: publisher id 0
      c->next_seq.assign(1, 0);
      c->wbuf.reset(new uint8_t[kFrameSize]);
      c->frame.build(c->wbuf.get(), Payload{0, 0, 0});
    }
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
  if (fanout || echo) {
    for (auto& w : workers)
      asio::post(w->ioc, [wp = w.get(), fanout, start] {
        for (auto& c : wp->conns) {
          if (c->dead || !c->upgraded)
            continue;
          if (fanout && c->role == Role::publisher) {
            c->timer->expires_at(asio::steady_timer::clock_type::time_point(std::chrono::nanoseconds(start)));
            c->timer->async_wait([cp = c.get()](boost::system::error_code e) {
              if (!e)
                cp->publish_tick();
            });
          } else if (!fanout) {
            c->echo_send();
          }
        }
      });
  }
  while (now_ns() < run.t_measure)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  cpu0 = read_cpu_s(cfg.server_pid);
  uint64_t tm = run.t_measure;
  uint64_t next_progress = tm + 1'000'000'000;
  while (now_ns() < run.t_end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (now_ns() >= next_progress) {
      progress(cfg.workload.c_str(), static_cast<double>(now_ns() - tm) / 1e9);
      next_progress += 1'000'000'000;
    }
  }
  cpu1 = read_cpu_s(cfg.server_pid);
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

  const bool sub_only = fanout && cfg.publishers == 0;
  // sub_only: the expected count is only known to whoever merges the processes' JSON (bench/compare)
  uint64_t expected = sub_only ? fin.received : fanout ? fin.sent * members : (echo ? fin.sent : 0);
  int64_t losses = static_cast<int64_t>(expected) - static_cast<int64_t>(fin.received);
  // per node (cluster): members, receipts, losses, latency; "cross" = every node but the first
  std::vector<uint64_t> node_recv(nodes, 0), node_recv_window(nodes, 0);
  std::vector<Histogram> node_h(nodes);
  Histogram cross_h;
  for (auto& w : workers)
    for (int k = 0; k < nodes; ++k) {
      node_recv[k] += w->node_recv[k].load(std::memory_order_relaxed);
      node_recv_window[k] += w->node_recv_window[k].load(std::memory_order_relaxed);
      node_h[k].merge(w->node_hist[k]);
      if (k > 0)
        cross_h.merge(w->node_hist[k]);
    }
  uint64_t cross_recv_window = 0;
  for (int k = 1; k < nodes; ++k)
    cross_recv_window += node_recv_window[k];
  double per_s = static_cast<double>(fin.received_window) / cfg.duration;
  double cpu_s = (cpu0 >= 0 && cpu1 >= 0) ? cpu1 - cpu0 : -1;
  double cpu_per_m =
      (cpu_s >= 0 && fin.received_window) ? cpu_s / (static_cast<double>(fin.received_window) / 1e6) : -1;
  double rss_per_conn = (rss_idle > 0 && rss_before > 0 && fin.connected)
                            ? static_cast<double>(rss_idle - rss_before) * 1024.0 / static_cast<double>(fin.connected)
                            : -1;
  auto us = [](uint64_t ns) { return static_cast<double>(ns) / 1000.0; };

  char js[4096];
  std::snprintf(js, sizeof js,
                "{\"label\":\"%s\",\"workload\":\"%s\",\"url\":\"%s\",\"clients\":%d,\"publishers\":%d,"
                "\"rate\":%.3f,\"duration_s\":%.3f,\"warmup_s\":%.3f,\"threads\":%d,"
                "\"connected\":%" PRIu64 ",\"connect_failed\":%" PRIu64 ",\"connect_s\":%.3f,"
                "\"closed_by_server\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"members\":%" PRIu64 ",\"sent\":%" PRIu64
                ",\"target_sent\":%.0f,\"sent_window\":%" PRIu64 ",\"expected\":%" PRIu64 ",\"received\":%" PRIu64
                ",\"received_window\":%" PRIu64 ",\"losses\":%" PRId64 ",\"gaps\":%" PRIu64
                ",\"order_violations\":%" PRIu64 ",\"bad_payloads\":%" PRIu64 ",\"per_s\":%.1f,\"lat_samples\":%" PRIu64
                ",\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f,"
                "\"drain_s\":%.3f,\"server_pid\":%ld,\"server_cpu_s\":%.3f,\"cpu_s_per_million\":%.4f,"
                "\"rss_before_kb\":%ld,\"rss_after_kb\":%ld,\"rss_per_conn_bytes\":%.1f}",
                json_escape(cfg.label).c_str(), cfg.workload.c_str(), json_escape(cfg.url).c_str(), cfg.clients,
                fanout ? cfg.publishers : 0, fanout ? cfg.rate : 0.0, cfg.duration, cfg.warmup, cfg.threads,
                fin.connected, fin.connect_failed, connect_s, fin.closed_by_server, fin.errors, members, fin.sent,
                fanout ? cfg.publishers * cfg.rate * (cfg.warmup + cfg.duration) : 0.0, fin.sent_window, expected,
                fin.received, fin.received_window, losses, fin.gaps, fin.order_violations, fin.bad_payloads, per_s,
                h.count(), us(h.percentile(0.50)), us(h.percentile(0.99)), us(h.percentile(0.999)), us(h.max()),
                drain_s, cfg.server_pid, cpu_s, cpu_per_m, rss_before, rss_idle, rss_per_conn);
  std::string jsx(js);
  jsx.pop_back(); // the closing brace: more fields follow
  {
    char b[1024];
    std::snprintf(b, sizeof b,
                  ",\"src_base\":%d,\"src_addrs\":%d,\"index_base\":%d,\"sub_only\":%s,"
                  "\"cross_per_s\":%.1f,\"cross_lat_samples\":%" PRIu64 ",\"cross_p50_us\":%.1f,\"cross_p99_us\":%.1f,"
                  "\"cross_p999_us\":%.1f,\"nodes\":[",
                  cfg.src_base, cfg.src_addrs, cfg.index_base, sub_only ? "true" : "false",
                  static_cast<double>(cross_recv_window) / cfg.duration, cross_h.count(), us(cross_h.percentile(0.50)),
                  us(cross_h.percentile(0.99)), us(cross_h.percentile(0.999)));
    jsx += b;
    for (int k = 0; k < nodes; ++k) {
      uint64_t nexp = sub_only ? node_recv[k] : fanout ? fin.sent * node_members[k] : node_recv[k];
      std::snprintf(b, sizeof b,
                    "%s{\"url\":\"%s\",\"members\":%" PRIu64 ",\"expected\":%" PRIu64 ",\"received\":%" PRIu64
                    ",\"received_window\":%" PRIu64 ",\"losses\":%" PRId64
                    ",\"per_s\":%.1f,\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f}",
                    k ? "," : "", json_escape(cfg.targets[k].url).c_str(), node_members[k], nexp, node_recv[k],
                    node_recv_window[k], static_cast<int64_t>(nexp) - static_cast<int64_t>(node_recv[k]),
                    static_cast<double>(node_recv_window[k]) / cfg.duration, us(node_h[k].percentile(0.50)),
                    us(node_h[k].percentile(0.99)), us(node_h[k].percentile(0.999)));
      jsx += b;
    }
    jsx += "]";
    if (cfg.dump_hist) { // exact merge across processes: bucket index -> count (see histogram.hpp)
      jsx += ",\"hist\":[";
      bool first = true;
      h.for_each([&](int i, uint64_t n) {
        jsx += (first ? "[" : ",[") + std::to_string(i) + "," + std::to_string(n) + "]";
        first = false;
      });
      jsx += "],\"hist_min_ns\":" + std::to_string(h.min()) + ",\"hist_max_ns\":" + std::to_string(h.max());
    }
    jsx += "}";
  }

  char md[1024];
  std::snprintf(md, sizeof md,
                "| %s | %s | %d | %d | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %" PRId64 " | %" PRIu64
                " | %.3f | %.0f |",
                cfg.label.c_str(), cfg.workload.c_str(), cfg.clients, fanout ? cfg.publishers : 0,
                fanout ? cfg.rate : 0.0, per_s, us(h.percentile(0.50)), us(h.percentile(0.99)), us(h.percentile(0.999)),
                us(h.max()), losses, fin.order_violations, cpu_per_m, rss_per_conn);
  const char* md_head = "| server | workload | N | S | R | msgs/s | p50 us | p99 us | p99.9 us | max us | losses | "
                        "order | cpu-s/M | RSS B/conn |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|";
  std::string node_lines;
  if (cluster)
    for (int k = 0; k < nodes; ++k) {
      char b[512];
      std::snprintf(b, sizeof b,
                    "node %d %s: members %" PRIu64 " received %" PRIu64 " msgs/s %.0f p50 %.0f us p99 %.0f us%s\n",
                    k + 1, cfg.targets[k].url.c_str(), node_members[k], node_recv[k],
                    static_cast<double>(node_recv_window[k]) / cfg.duration, us(node_h[k].percentile(0.50)),
                    us(node_h[k].percentile(0.99)), k ? " (cross-node)" : " (publishers' node)");
      node_lines += b;
    }
  if (cfg.json_file.empty()) {
    std::printf("%s\n", jsx.c_str());
    std::fprintf(stderr, "%s\n%s\n%s", md_head, md, node_lines.c_str());
  } else {
    std::ofstream f(cfg.json_file);
    f << jsx << "\n";
    if (!cfg.sync_stdin) // with --sync-stdin stdout carries the ready line only
      std::printf("%s\n%s\n%s", md_head, md, node_lines.c_str());
  }
  // Destroy connections (sockets) before their io_contexts.
  for (auto& w : workers)
    w->conns.clear();
  bool ok = fin.connect_failed == 0 && fin.order_violations == 0 && losses == 0 && fin.bad_payloads == 0;
  return ok ? 0 : 1;
}
