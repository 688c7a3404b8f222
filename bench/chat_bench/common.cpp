// chat-bench's shared parts (common.hpp): options, /proc readings, the
// connection (connect, handshake, frames, receipt accounting) and the report.
#include "common.hpp"

#include <netinet/in.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string_view>

namespace chatbench {

namespace {

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
               "  --server-pid PID[,PID...]  read server RSS (first PID) and CPU time (sum) from /proc\n"
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
               "  --v1               steady: speak chatd.v1 (JSON envelopes, resume with ?since=)\n"
               "cluster: like fanout; subscribers spread round-robin over the URLs (nodes),\n"
               "  publishers on the first URL; per-node and cross-node (not first URL) figures.\n"
               "echo: each client is alone in room PATH-e<i> with one message in flight.\n"
               "idle: RSS per connection = (server RSS with N idle clients - RSS before) / N.\n"
               "steady: N subscribers and S publishers (R msgs/s each for --duration) on the first URL;\n"
               "  clients reconnect when dropped; the JSON lists every message sent (seq, time,\n"
               "  connection) and what each subscriber received and when it was connected.\n"
               "  --v1: subscribers reconnect with ?since=<epoch>:<offset> of the last message they got;\n"
               "  the JSON adds per subscriber every receipt [epoch index, offset, p, s, recv_us],\n"
               "  every connection and every \"resumed\"; out-of-order is reported, not a failure.\n");
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

} // namespace

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
    else if (a == "--v1")
      c.v1 = true;
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
    else if (a == "--server-pid") {
      c.server_pids.clear();
      std::string v = val();
      for (std::size_t pos = 0; pos <= v.size();) {
        auto comma = v.find(',', pos);
        std::string p = v.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
        if (!p.empty())
          c.server_pids.push_back(std::atol(p.c_str()));
        if (comma == std::string::npos)
          break;
        pos = comma + 1;
      }
      c.server_pid = c.server_pids.empty() ? 0 : c.server_pids[0];
    } else if (a == "--label")
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
  if (c.v1 && c.workload != "steady") {
    std::fprintf(stderr, "chat-bench: --v1 is for --workload steady only (got %s)\n", c.workload.c_str());
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

int write_report(const Run& run, const Report& r) {
  const Config& cfg = run.cfg;
  const bool cluster = cfg.workload == "cluster";
  const bool fanout = cfg.workload == "fanout" || cluster;
  const bool echo = cfg.workload == "echo";
  const int nodes = static_cast<int>(r.nodes.size());
  const Totals& fin = r.fin;
  const Histogram& h = *r.hist;
  const Histogram& cross_h = *r.cross_hist;
  const uint64_t members = r.members;
  const bool sub_only = fanout && cfg.publishers == 0;
  // sub_only: the expected count is only known to whoever merges the processes' JSON (bench/compare)
  uint64_t expected = sub_only ? fin.received : fanout ? fin.sent * members : (echo ? fin.sent : 0);
  int64_t losses = static_cast<int64_t>(expected) - static_cast<int64_t>(fin.received);
  double per_s = static_cast<double>(fin.received_window) / cfg.duration;
  double cpu_s = r.cpu_s;
  double cpu_per_m =
      (cpu_s >= 0 && fin.received_window) ? cpu_s / (static_cast<double>(fin.received_window) / 1e6) : -1;
  double rss_per_conn =
      (r.rss_idle > 0 && r.rss_before > 0 && fin.connected)
          ? static_cast<double>(r.rss_idle - r.rss_before) * 1024.0 / static_cast<double>(fin.connected)
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
                fin.connected, fin.connect_failed, r.connect_s, fin.closed_by_server, fin.errors, members, fin.sent,
                fanout ? cfg.publishers * cfg.rate * (cfg.warmup + cfg.duration) : 0.0, fin.sent_window, expected,
                fin.received, fin.received_window, losses, fin.gaps, fin.order_violations, fin.bad_payloads, per_s,
                h.count(), us(h.percentile(0.50)), us(h.percentile(0.99)), us(h.percentile(0.999)), us(h.max()),
                r.drain_s, cfg.server_pid, cpu_s, cpu_per_m, r.rss_before, r.rss_idle, rss_per_conn);
  std::string jsx(js);
  jsx.pop_back(); // the closing brace: more fields follow
  {
    char b[1024];
    std::snprintf(b, sizeof b,
                  ",\"client_cpu_s\":%.3f,\"src_base\":%d,\"src_addrs\":%d,\"index_base\":%d,\"sub_only\":%s,"
                  "\"cross_per_s\":%.1f,\"cross_lat_samples\":%" PRIu64 ",\"cross_p50_us\":%.1f,\"cross_p99_us\":%.1f,"
                  "\"cross_p999_us\":%.1f,\"nodes\":[",
                  r.client_cpu_s, cfg.src_base, cfg.src_addrs, cfg.index_base, sub_only ? "true" : "false",
                  static_cast<double>(r.cross_received_window) / cfg.duration, cross_h.count(),
                  us(cross_h.percentile(0.50)), us(cross_h.percentile(0.99)), us(cross_h.percentile(0.999)));
    jsx += b;
    for (int k = 0; k < nodes; ++k) {
      uint64_t nexp = sub_only ? r.nodes[k].received : fanout ? fin.sent * r.nodes[k].members : r.nodes[k].received;
      std::snprintf(
          b, sizeof b,
          "%s{\"url\":\"%s\",\"members\":%" PRIu64 ",\"expected\":%" PRIu64 ",\"received\":%" PRIu64
          ",\"received_window\":%" PRIu64 ",\"losses\":%" PRId64
          ",\"per_s\":%.1f,\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f}",
          k ? "," : "", json_escape(cfg.targets[k].url).c_str(), r.nodes[k].members, nexp, r.nodes[k].received,
          r.nodes[k].received_window, static_cast<int64_t>(nexp) - static_cast<int64_t>(r.nodes[k].received),
          static_cast<double>(r.nodes[k].received_window) / cfg.duration, us(r.nodes[k].hist->percentile(0.50)),
          us(r.nodes[k].hist->percentile(0.99)), us(r.nodes[k].hist->percentile(0.999)));
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
    node_lines = cluster_node_lines(r.nodes, cfg.duration);
  if (cfg.json_file.empty()) {
    std::printf("%s\n", jsx.c_str());
    std::fprintf(stderr, "%s\n%s\n%s", md_head, md, node_lines.c_str());
  } else {
    std::ofstream f(cfg.json_file);
    f << jsx << "\n";
    if (!cfg.sync_stdin) // with --sync-stdin stdout carries the ready line only
      std::printf("%s\n%s\n%s", md_head, md, node_lines.c_str());
  }
  bool ok = fin.connect_failed == 0 && fin.order_violations == 0 && losses == 0 && fin.bad_payloads == 0;
  return ok ? 0 : 1;
}

} // namespace chatbench
