// The steady workload (see steady.hpp): one I/O thread, clients that
// reconnect, and a report of exactly what was sent and received; raw binary
// frames (payload.hpp) or, with --v1, chatd.v1 envelopes (v1.hpp).
// Before Asio: Boost 1.74's awaitable.hpp uses std::exchange without it.
#include <utility>

#include "steady.hpp"

#include <boost/asio.hpp>

#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <future>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "payload.hpp"
#include "range_set.hpp"
#include "v1.hpp"

namespace chatbench {

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

uint64_t now_ns() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

std::chrono::nanoseconds secs(double s) { return std::chrono::nanoseconds(static_cast<int64_t>(s * 1e9)); }

constexpr std::size_t kReadBuf = 4096;
constexpr std::size_t kV1ReadBuf = 64 * 1024;         // v1: presence snapshots are larger; grown to fit a frame
constexpr std::size_t kV1MaxFrame = 64 * 1024 * 1024; // v1: over this (never sent by chatd) the connection is dropped
constexpr uint64_t kMaxBatch = 64;
constexpr uint64_t kNever = UINT64_MAX;

struct Steady;

// v1: what a subscriber got and when (report: receipts, connections, resumes).
struct Receipt {
  uint32_t epoch; // index into Client::epochs
  uint64_t offset;
  uint32_t p;
  uint64_t s;
  uint64_t at_ns;
};
struct Connection {
  uint64_t at_ns;
  std::string since; // what its URL asked ("" for none)
};
struct Resume {
  uint64_t at_ns;
  int connection; // Client::epoch when it came (the index into connections)
  bool first;     // the first data frame of that connection
  std::string since;
  bool recovered;
  std::string epoch;
  uint64_t offset;
};

struct Client {
  Steady& s;
  int index;
  bool publisher;
  uint32_t pub_id = 0;
  tcp::socket sock;
  asio::steady_timer attempt_timer, backoff_timer, pub_timer;
  enum class State { idle, connecting, open, waiting } st = State::idle;
  uint64_t gen = 0; // bumped per attempt and per drop: callbacks of an older connection are ignored
  uint64_t opened_at = 0;
  int epoch = -1; // connections opened so far - 1
  double backoff;
  std::vector<std::pair<uint64_t, uint64_t>> intervals; // connected [from, to) in steady ns
  std::unique_ptr<uint8_t[]> rbuf{new uint8_t[kReadBuf]};
  std::size_t rcap = kReadBuf; // v1: kV1ReadBuf, grown to fit a frame
  std::size_t rlen = 0;
  std::string handshake;
  uint64_t attempts = 0;
  // subscriber
  std::map<uint32_t, RangeSet> received;
  uint64_t duplicates = 0, out_of_order = 0;
  // publisher
  ClientFrame frame;
  std::unique_ptr<uint8_t[]> wbuf;
  bool writing = false;
  uint64_t seq = 0, slot = 0, skipped = 0;
  std::vector<uint64_t> send_ns;                     // per seq
  std::vector<std::pair<uint64_t, int>> epoch_start; // (first seq, connection) whenever the connection changes
  // pong (subscribers only; publishers' own traffic keeps the server's idle timer quiet)
  uint8_t pong[6 + 125];
  bool pong_writing = false;
  // v1
  std::string since;       // what this attempt's URL asks: "E:O" or ""
  bool have_place = false; // subscribers: the place of the last message received, to resume from
  std::string place_epoch;
  uint64_t place_offset = 0;
  uint64_t data_frames = 0; // messages and resumed frames on this connection so far
  std::string v1_wbuf;      // publishers: the batch being written
  std::vector<Receipt> receipts;
  std::vector<std::string> epochs; // index table of Receipt::epoch, first seen first
  std::map<std::string, uint32_t> epoch_ids;
  std::vector<Connection> connections;
  std::vector<Resume> resumes;

  Client(Steady& st_, asio::io_context& ioc, int idx, bool pub, double backoff_min)
    : s(st_)
    , index(idx)
    , publisher(pub)
    , sock(ioc)
    , attempt_timer(ioc)
    , backoff_timer(ioc)
    , pub_timer(ioc)
    , backoff(backoff_min)
    , frame(0x2545f491u ^ static_cast<uint32_t>(idx)) {}

  void attempt();
  void read_handshake(uint64_t g);
  void read_frames(uint64_t g);
  void on_frames(uint64_t g);
  void on_message(const uint8_t* p, std::size_t n);
  void on_v1_text(const uint8_t* p, std::size_t n);
  void send_pong(const uint8_t* p, std::size_t n);
  void drop();
  void tick();
};

struct Steady {
  SteadyOptions o;
  asio::io_context ioc{1};
  tcp::endpoint server;
  std::minstd_rand rng{std::random_device{}()};
  uint64_t t0 = kNever, t_end = kNever;
  bool stopping = false;
  std::vector<std::unique_ptr<Client>> clients;
  // read by the main thread for progress and the drain
  std::atomic<uint64_t> opened_once{0}, open_now{0}, received{0}, sent{0}, last_receipt{0}, reconnects{0};
  uint64_t bad_payloads = 0;
  uint64_t errors = 0; // v1: {"type":"error"} frames
};

// The upgrade request for `target`; with v1 it offers chatd.v1 (and no extension).
std::string upgrade_request(const SteadyOptions& o, const std::string& target, bool v1) {
  return "GET " + target + " HTTP/1.1\r\nHost: " + o.host + ":" + std::to_string(o.port) +
         "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
         (v1 ? "Sec-WebSocket-Protocol: " + std::string(kV1Subprotocol) + "\r\n" : std::string()) + "\r\n";
}

void Client::attempt() {
  if (s.stopping)
    return;
  ++attempts;
  auto g = ++gen;
  boost::system::error_code ec;
  sock.close(ec);
  sock.open(tcp::v4(), ec);
  if (!ec)
    sock.set_option(tcp::no_delay(true), ec);
  st = State::connecting;
  rlen = 0;
  if (s.o.v1) { // subscribers resume from the last message they got; publishers never
    since = !publisher && have_place ? v1_since(place_epoch, place_offset) : std::string();
    handshake = upgrade_request(s.o, v1_resume_target(s.o.path, since), true);
  }
  attempt_timer.expires_after(secs(s.o.attempt_timeout));
  attempt_timer.async_wait([this, g](boost::system::error_code e) {
    if (!e && g == gen && st == State::connecting)
      drop(); // a node that accepts but does not answer (paused): try again
  });
  if (ec)
    return drop();
  sock.async_connect(s.server, [this, g](boost::system::error_code e) {
    if (g != gen)
      return;
    if (e)
      return drop();
    asio::async_write(sock, asio::buffer(handshake), [this, g](boost::system::error_code e2, std::size_t) {
      if (g != gen)
        return;
      if (e2)
        return drop();
      read_handshake(g);
    });
  });
}

void Client::read_handshake(uint64_t g) {
  sock.async_read_some(asio::buffer(rbuf.get() + rlen, rcap - rlen),
                       [this, g](boost::system::error_code e, std::size_t n) {
                         if (g != gen)
                           return;
                         if (e)
                           return drop();
                         rlen += n;
                         std::string_view v(reinterpret_cast<char*>(rbuf.get()), rlen);
                         auto end = v.find("\r\n\r\n");
                         if (end == std::string_view::npos) {
                           if (rlen == rcap)
                             return drop();
                           return read_handshake(g);
                         }
                         if (v.substr(0, 12) != "HTTP/1.1 101") // e.g. 503 or 1013 under a reconnect storm: try again
                           return drop();
                         if (s.o.v1 && !answer_selects_subprotocol(v.substr(0, end), kV1Subprotocol))
                           return drop(); // not chatd.v1: a failed attempt
                         std::size_t hdr = end + 4;
                         std::memmove(rbuf.get(), rbuf.get() + hdr, rlen - hdr);
                         rlen -= hdr;
                         attempt_timer.cancel();
                         st = State::open;
                         opened_at = now_ns();
                         ++epoch;
                         backoff = s.o.backoff_min;
                         if (s.o.v1) {
                           connections.push_back({opened_at, since});
                           data_frames = 0;
                         }
                         if (epoch == 0)
                           ++s.opened_once;
                         else
                           ++s.reconnects;
                         ++s.open_now;
                         on_frames(g);
                       });
}

void Client::read_frames(uint64_t g) {
  sock.async_read_some(asio::buffer(rbuf.get() + rlen, rcap - rlen),
                       [this, g](boost::system::error_code e, std::size_t n) {
                         if (g != gen)
                           return;
                         if (e)
                           return drop();
                         rlen += n;
                         on_frames(g);
                       });
}

void Client::on_frames(uint64_t g) {
  std::size_t off = 0, grow_to = 0;
  uint8_t* b = rbuf.get();
  for (;;) {
    std::size_t avail = rlen - off;
    ServerFrame fr;
    const FrameParse parsed = parse_server_frame(b + off, avail, fr);
    if (parsed == FrameParse::need_more)
      break;
    if (parsed == FrameParse::masked) { // servers never mask
      ++s.bad_payloads;
      return drop();
    }
    const uint8_t op = fr.opcode;
    const std::size_t hdr = fr.header;
    const uint64_t len = fr.length;
    if (hdr + len > rcap) {
      if (!s.o.v1) { // never sent in this workload
        ++s.bad_payloads;
        return drop();
      }
      if (len > kV1MaxFrame - hdr) // no chatd frame comes near; not a bad payload either
        return drop();
      grow_to = hdr + len; // v1: a presence snapshot, say
      break;
    }
    if (avail < hdr + len)
      break;
    const uint8_t* p = b + off + hdr;
    off += hdr + len;
    if (s.o.v1 && op == 0x1)
      on_v1_text(p, len);
    else if (s.o.v1 && (op == 0x2 || op == 0x0)) { // chatd sends v1 clients whole text frames only
      ++data_frames;
      ++s.bad_payloads;
    } else if (op == 0x1 || op == 0x2)
      on_message(p, len);
    else if (op == 0x9)
      send_pong(p, len);
    else if (op == 0x8)
      return drop(); // the server closes (shutdown, limits): reconnect
  }
  if (off) {
    std::memmove(b, b + off, rlen - off);
    rlen -= off;
  }
  if (grow_to > rcap) {
    std::size_t cap = std::max(grow_to, 2 * rcap);
    std::unique_ptr<uint8_t[]> nb(new uint8_t[cap]);
    std::memcpy(nb.get(), rbuf.get(), rlen);
    rbuf = std::move(nb);
    rcap = cap;
  }
  read_frames(g);
}

void Client::on_message(const uint8_t* p, std::size_t n) {
  Payload m;
  if (!decode_payload(p, n, m)) {
    ++s.bad_payloads;
    return;
  }
  s.received.fetch_add(1, std::memory_order_relaxed);
  s.last_receipt.store(now_ns(), std::memory_order_relaxed);
  if (publisher)
    return; // publishers are members (they must read) but record nothing
  switch (received[m.publisher].add(m.seq)) {
    case RangeSet::Added::in_order: break;
    case RangeSet::Added::out_of_order: ++out_of_order; break;
    case RangeSet::Added::duplicate: ++duplicates; break;
  }
}

// v1: one text frame from the server (v1.hpp says what counts as bad).
void Client::on_v1_text(const uint8_t* p, std::size_t n) {
  const V1Frame f = parse_v1_frame(std::string_view(reinterpret_cast<const char*>(p), n));
  // presence may come before the answer to ?since=: only messages and
  // resumed frames count towards "first"
  const bool first = (f.kind == V1Frame::Kind::message || f.kind == V1Frame::Kind::resumed) && data_frames++ == 0;
  switch (f.kind) {
    case V1Frame::Kind::bad: ++s.bad_payloads; return;
    case V1Frame::Kind::error: ++s.errors; return;
    case V1Frame::Kind::other: return; // presence, join, leave
    case V1Frame::Kind::resumed:
      resumes.push_back({now_ns(), epoch, first, since, f.recovered, f.epoch, f.offset});
      return;
    case V1Frame::Kind::message: break;
  }
  const uint64_t now = now_ns();
  s.received.fetch_add(1, std::memory_order_relaxed);
  s.last_receipt.store(now, std::memory_order_relaxed);
  if (publisher)
    return;
  if (f.has_place) {
    have_place = true;
    place_epoch = f.epoch;
    place_offset = f.offset;
  }
  // without a place (--cluster-order off): epoch "", offset 0
  auto [it, added] = epoch_ids.try_emplace(f.epoch, static_cast<uint32_t>(epochs.size()));
  if (added)
    epochs.push_back(f.epoch);
  receipts.push_back({it->second, f.offset, f.p, f.s, now});
  switch (received[f.p].add(f.s)) {
    case RangeSet::Added::in_order: break;
    case RangeSet::Added::out_of_order: ++out_of_order; break;
    case RangeSet::Added::duplicate: ++duplicates; break;
  }
}

void Client::send_pong(const uint8_t* p, std::size_t n) {
  if (publisher || pong_writing || n > 125)
    return;
  pong[0] = 0x8a; // FIN | pong
  pong[1] = static_cast<uint8_t>(0x80 | n);
  std::memcpy(pong + 2, frame.mask(), 4);
  std::memcpy(pong + 6, p, n);
  ClientFrame::unmask(pong + 6, n, frame.mask()); // masking is the same XOR
  pong_writing = true;
  auto g = gen;
  asio::async_write(sock, asio::buffer(pong, 6 + n), [this, g](boost::system::error_code e, std::size_t) {
    if (g != gen)
      return;
    pong_writing = false;
    if (e)
      drop();
  });
}

void Client::drop() {
  if (st == State::waiting || st == State::idle)
    return;
  if (st == State::open) {
    intervals.push_back({opened_at, now_ns()});
    --s.open_now;
  }
  st = State::waiting;
  ++gen;
  boost::system::error_code ec;
  sock.close(ec);
  attempt_timer.cancel();
  writing = false;
  pong_writing = false;
  if (s.stopping)
    return;
  // bounded backoff with jitter (0.75x .. 1.25x), doubling up to backoff_max
  double d = backoff * std::uniform_real_distribution<double>(0.75, 1.25)(s.rng);
  backoff = std::min(backoff * 2, s.o.backoff_max);
  backoff_timer.expires_after(secs(d));
  backoff_timer.async_wait([this](boost::system::error_code e) {
    if (!e)
      attempt();
  });
}

// Publishers: messages are due on a fixed schedule from t0 (rate R); due
// while not connected, they are skipped (counted), not sent late.
void Client::tick() {
  uint64_t now = now_ns();
  uint64_t until = std::min(now, s.t_end);
  uint64_t due =
      until >= s.t0 ? static_cast<uint64_t>(static_cast<double>(until - s.t0) * s.o.rate / 1e9) + 1 : uint64_t{0};
  if (due > slot) {
    if (st == State::open && !writing) {
      uint64_t n = std::min(due - slot, kMaxBatch);
      if (epoch_start.empty() || epoch_start.back().second != epoch)
        epoch_start.push_back({seq, epoch});
      asio::const_buffer out;
      if (s.o.v1) {
        v1_wbuf.clear();
        for (uint64_t i = 0; i < n; ++i) {
          append_v1_publish(v1_wbuf, pub_id, seq++, frame.mask());
          send_ns.push_back(now);
        }
        out = asio::buffer(v1_wbuf);
      } else {
        for (uint64_t i = 0; i < n; ++i) {
          frame.stamp(wbuf.get() + i * kFrameSize, Payload{pub_id, seq++, now});
          send_ns.push_back(now);
        }
        out = asio::buffer(wbuf.get(), n * kFrameSize);
      }
      slot += n;
      s.sent.fetch_add(n, std::memory_order_relaxed);
      writing = true;
      auto g = gen;
      asio::async_write(sock, out, [this, g](boost::system::error_code e, std::size_t) {
        if (g != gen)
          return;
        writing = false;
        if (e)
          drop();
      });
    } else if (st != State::open) {
      skipped += due - slot;
      slot = due;
    } // else: the last write is still going; catch up next tick
  }
  if (now >= s.t_end)
    return;
  auto period = std::chrono::nanoseconds(std::max<uint64_t>(static_cast<uint64_t>(1e9 / s.o.rate), 1'000'000));
  pub_timer.expires_after(period);
  pub_timer.async_wait([this](boost::system::error_code e) {
    if (!e)
      tick();
  });
}

std::string json_escape(const std::string& v) {
  std::string o;
  for (char ch : v) {
    if (ch == '"' || ch == '\\')
      o += '\\';
    o += ch;
  }
  return o;
}

// Steady-clock ns as microseconds from t0 (negative before it).
long long rel_us(uint64_t t, uint64_t t0) { return static_cast<long long>((static_cast<int64_t>(t - t0)) / 1000); }

// A JSON string (quoted, escaped).
std::string quote(const std::string& v) {
  return nlohmann::json(v).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// v1: [{"at_us":T,"connection":K,"first":B,"since":"E:O","recovered":B,"epoch":"E","offset":O},...]
void append_resumes(std::string& j, const std::vector<Resume>& rs, uint64_t t0) {
  j += '[';
  for (std::size_t i = 0; i < rs.size(); ++i) {
    const Resume& r = rs[i];
    j += (i ? ",{\"at_us\":" : "{\"at_us\":") + std::to_string(rel_us(r.at_ns, t0)) +
         ",\"connection\":" + std::to_string(r.connection) + ",\"first\":" + (r.first ? "true" : "false") +
         ",\"since\":" + quote(r.since) + ",\"recovered\":" + (r.recovered ? "true" : "false") +
         ",\"epoch\":" + quote(r.epoch) + ",\"offset\":" + std::to_string(r.offset) + "}";
  }
  j += ']';
}

void append_intervals(std::string& j, const std::vector<std::pair<uint64_t, uint64_t>>& iv, uint64_t t0) {
  j += '[';
  for (std::size_t i = 0; i < iv.size(); ++i)
    j += (i ? ",[" : "[") + std::to_string(rel_us(iv[i].first, t0)) + "," + std::to_string(rel_us(iv[i].second, t0)) +
         "]";
  j += ']';
}

} // namespace

int run_steady(const SteadyOptions& opts) {
  Steady s;
  s.o = opts;
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(opts.host, ec);
  if (ec) {
    std::fprintf(stderr, "chat-bench: host must be an IP address (got %s)\n", opts.host.c_str());
    return 2;
  }
  s.server = tcp::endpoint(addr, opts.port);
  const int total = opts.subscribers + opts.publishers;
  const std::string handshake = upgrade_request(opts, opts.path, opts.v1); // v1: remade per attempt
  for (int i = 0; i < total; ++i) {
    bool pub = i < opts.publishers;
    auto c = std::make_unique<Client>(s, s.ioc, i, pub, opts.backoff_min);
    c->handshake = handshake;
    if (opts.v1) {
      c->rcap = kV1ReadBuf;
      c->rbuf.reset(new uint8_t[kV1ReadBuf]);
    }
    if (pub) {
      c->pub_id = opts.pub_id_base + static_cast<uint32_t>(i);
      c->wbuf.reset(new uint8_t[kMaxBatch * kFrameSize]);
      for (uint64_t k = 0; k < kMaxBatch; ++k)
        c->frame.build(c->wbuf.get() + k * kFrameSize, Payload{c->pub_id, 0, 0});
      c->send_ns.reserve(static_cast<std::size_t>(opts.rate * opts.duration) + 16);
    }
    s.clients.push_back(std::move(c));
  }
  auto guard = asio::make_work_guard(s.ioc);
  asio::post(s.ioc, [&s] {
    for (auto& c : s.clients)
      c->attempt();
  });
  std::thread io([&s] { s.ioc.run(); });

  auto progress = [&](const char* phase, double t) {
    std::fprintf(
        stderr, "[%s %s %5.1fs] open %" PRIu64 "/%d reconnects %" PRIu64 " sent %" PRIu64 " recv %" PRIu64 "\n",
        opts.label.c_str(), phase, t, s.open_now.load(), total, s.reconnects.load(), s.sent.load(), s.received.load());
  };

  // 1. every client connected once (bounded)
  uint64_t c0 = now_ns();
  while (s.opened_once.load() < static_cast<uint64_t>(total) &&
         static_cast<double>(now_ns() - c0) / 1e9 < opts.connect_timeout)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  bool connect_failed = s.opened_once.load() < static_cast<uint64_t>(total);
  if (connect_failed)
    std::fprintf(stderr, "chat-bench: steady: only %" PRIu64 "/%d clients connected within %.0f s\n",
                 s.opened_once.load(), total, opts.connect_timeout);
  // let the server register every member before anyone publishes
  std::this_thread::sleep_for(std::chrono::milliseconds(300));

  // 2. a start time (common to several processes with --sync-stdin), then publish
  uint64_t start = now_ns() + 20'000'000;
  if (opts.sync_stdin) {
    std::printf("ready %" PRIu64 "\n", s.opened_once.load());
    std::fflush(stdout);
    std::string line;
    if (!std::getline(std::cin, line) || line.rfind("go ", 0) != 0) {
      std::fprintf(stderr, "chat-bench: --sync-stdin: no 'go <ns>' line\n");
      std::_Exit(2);
    }
    start = std::strtoull(line.c_str() + 3, nullptr, 10);
  }
  const uint64_t end = start + static_cast<uint64_t>(opts.duration * 1e9);
  asio::post(s.ioc, [&s, start, end] {
    s.t0 = start;
    s.t_end = end;
    for (auto& c : s.clients)
      if (c->publisher) {
        c->pub_timer.expires_at(asio::steady_timer::clock_type::time_point(std::chrono::nanoseconds(start)));
        c->pub_timer.async_wait([cp = c.get()](boost::system::error_code e) {
          if (!e)
            cp->tick();
        });
      }
  });
  uint64_t next_progress = start + 1'000'000'000;
  while (now_ns() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (now_ns() >= next_progress) {
      progress("run", static_cast<double>(now_ns() - start) / 1e9);
      next_progress += 1'000'000'000;
    }
  }
  // 3. drain: until 1 s without a receipt (other processes' publishers end at the same time), bounded
  uint64_t drain_until = end + static_cast<uint64_t>(opts.drain * 1e9);
  for (;;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    uint64_t now = now_ns(), last = std::max(s.last_receipt.load(), end);
    if (now - last > 1'000'000'000 || now >= drain_until)
      break;
  }
  // 4. stop: close every connection (its interval ends now), then the thread
  uint64_t stop = 0;
  {
    std::promise<uint64_t> done;
    asio::post(s.ioc, [&s, &done] {
      uint64_t t = now_ns();
      s.stopping = true;
      for (auto& c : s.clients) {
        c->drop();
        c->backoff_timer.cancel();
        c->pub_timer.cancel();
      }
      done.set_value(t);
    });
    stop = done.get_future().get();
  }
  guard.reset();
  s.ioc.stop();
  io.join();
  progress("done", static_cast<double>(stop - start) / 1e9);

  uint64_t duplicates = 0, out_of_order = 0, skipped = 0;
  for (auto& c : s.clients) {
    duplicates += c->duplicates;
    out_of_order += c->out_of_order;
    skipped += c->skipped;
  }
  std::string j;
  j.reserve(1 << 20);
  char b[1024];
  std::snprintf(b, sizeof b,
                "{\"workload\":\"steady\",\"label\":\"%s\",\"url\":\"ws://%s:%u%s\",\"subscribers_n\":%d,"
                "\"publishers_n\":%d,\"pub_id_base\":%u,\"rate\":%.3f,\"duration_s\":%.3f,\"t0_ns\":%" PRIu64
                ",\"end_us\":%lld,\"stop_us\":%lld,\"connect_failed\":%s,\"sent\":%" PRIu64 ",\"skipped\":%" PRIu64
                ",\"received\":%" PRIu64 ",\"reconnects\":%" PRIu64 ",\"duplicates\":%" PRIu64
                ",\"out_of_order\":%" PRIu64 ",\"bad_payloads\":%" PRIu64 ",\"protocol\":\"%s\"",
                json_escape(opts.label).c_str(), opts.host.c_str(), opts.port, json_escape(opts.path).c_str(),
                opts.subscribers, opts.publishers, opts.pub_id_base, opts.rate, opts.duration, start,
                rel_us(end, start), rel_us(stop, start), connect_failed ? "true" : "false", s.sent.load(), skipped,
                s.received.load(), s.reconnects.load(), duplicates, out_of_order, s.bad_payloads,
                opts.v1 ? "chatd.v1" : "raw");
  j += b;
  if (opts.v1)
    j += ",\"errors\":" + std::to_string(s.errors);
  j += ",\"publishers\":[";
  bool first = true;
  for (auto& c : s.clients) {
    if (!c->publisher)
      continue;
    j += first ? "" : ",";
    first = false;
    j += "{\"id\":" + std::to_string(c->pub_id) + ",\"sent\":" + std::to_string(c->seq) +
         ",\"skipped\":" + std::to_string(c->skipped) + ",\"intervals\":";
    append_intervals(j, c->intervals, start);
    j += ",\"epochs\":[";
    for (std::size_t i = 0; i < c->epoch_start.size(); ++i)
      j += (i ? ",[" : "[") + std::to_string(c->epoch_start[i].first) + "," + std::to_string(c->epoch_start[i].second) +
           "]";
    j += "],\"send_us\":[";
    for (std::size_t i = 0; i < c->send_ns.size(); ++i) {
      if (i)
        j += ',';
      j += std::to_string(rel_us(c->send_ns[i], start));
    }
    j += "]";
    if (opts.v1) {
      j += ",\"resumes\":";
      append_resumes(j, c->resumes, start);
    }
    j += "}";
  }
  j += "],\"subscribers\":[";
  first = true;
  for (auto& c : s.clients) {
    if (c->publisher)
      continue;
    j += first ? "" : ",";
    first = false;
    j += "{\"index\":" + std::to_string(c->index) + ",\"duplicates\":" + std::to_string(c->duplicates) +
         ",\"out_of_order\":" + std::to_string(c->out_of_order) + ",\"intervals\":";
    append_intervals(j, c->intervals, start);
    j += ",\"received\":{";
    bool first_pub = true;
    for (auto& [id, set] : c->received) {
      j += (first_pub ? "\"" : ",\"") + std::to_string(id) + "\":[";
      first_pub = false;
      auto& r = set.ranges();
      for (std::size_t i = 0; i < r.size(); ++i)
        j += (i ? ",[" : "[") + std::to_string(r[i].first) + "," + std::to_string(r[i].second) + "]";
      j += "]";
    }
    j += "}";
    if (opts.v1) {
      j += ",\"epochs\":[";
      for (std::size_t i = 0; i < c->epochs.size(); ++i)
        j += (i ? "," : "") + quote(c->epochs[i]);
      j += "],\"receipts\":[";
      for (std::size_t i = 0; i < c->receipts.size(); ++i) {
        const Receipt& r = c->receipts[i];
        j += (i ? ",[" : "[") + std::to_string(r.epoch) + "," + std::to_string(r.offset) + "," + std::to_string(r.p) +
             "," + std::to_string(r.s) + "," + std::to_string(rel_us(r.at_ns, start)) + "]";
      }
      j += "],\"connections\":[";
      for (std::size_t i = 0; i < c->connections.size(); ++i)
        j += (i ? ",{\"at_us\":" : "{\"at_us\":") + std::to_string(rel_us(c->connections[i].at_ns, start)) +
             ",\"since\":" + quote(c->connections[i].since) + "}";
      j += "],\"resumes\":";
      append_resumes(j, c->resumes, start);
    }
    j += "}";
  }
  j += "]}\n";
  if (opts.json_file.empty()) {
    std::fwrite(j.data(), 1, j.size(), stdout);
  } else {
    std::ofstream f(opts.json_file);
    f << j;
    if (!f) {
      std::fprintf(stderr, "chat-bench: cannot write %s\n", opts.json_file.c_str());
      return 1;
    }
  }
  std::fprintf(stderr,
               "%s: steady: sent %" PRIu64 " (skipped while down %" PRIu64 "), received %" PRIu64
               ", reconnects %" PRIu64 ", duplicates %" PRIu64 ", out of order %" PRIu64 ", bad %" PRIu64 "\n",
               opts.label.c_str(), s.sent.load(), skipped, s.received.load(), s.reconnects.load(), duplicates,
               out_of_order, s.bad_payloads);
  if (opts.v1)
    std::fprintf(stderr, "%s: steady: chatd.v1 errors %" PRIu64 "\n", opts.label.c_str(), s.errors);
  // v1: across epochs a sender's messages may interleave; duplicates are still impossible
  bool ok = !connect_failed && duplicates == 0 && (opts.v1 || out_of_order == 0) && s.bad_payloads == 0;
  return ok ? 0 : 1;
}

} // namespace chatbench
