// fanout and cluster: S publishers send R msgs/s each, on a fixed schedule
// batched per 1 ms tick, into one room of N subscribers (and the publishers).
// cluster is fanout over several nodes: subscribers round-robin over the
// URLs, publishers on the first; the report adds per-node and cross-node
// figures (cluster_node_lines here, the JSON in common.cpp).
#include "common.hpp"

#include <cinttypes>
#include <cstdio>

namespace chatbench {

namespace {

class Fanout : public Workload {
public:
  explicit Fanout(const Config& c)
    : cluster_(c.workload == "cluster")
    , nodes_(static_cast<int>(c.targets.size()))
    , pub_ids_(c.publishers > 0 ? c.publishers : c.expect_publishers) {}

  int connections(const Config& c) const override { return c.clients + c.publishers; }

  // Publishers first so they are connected early; all in one room.
  std::unique_ptr<Conn> make_conn(Run& run, Worker& w, int i) const override {
    const Config& cfg = run.cfg;
    Role role = i < cfg.publishers ? Role::publisher : Role::subscriber;
    auto c = std::make_unique<Conn>(&w, &run, w.ioc, i, role);
    // cluster: publishers on the first URL, subscribers round-robin over all URLs
    c->node = (cluster_ && role == Role::subscriber) ? (i - cfg.publishers) % nodes_ : 0;
    c->path = cfg.targets[c->node].path;
    c->next_seq.assign(pub_ids_, 0);
    if (role == Role::publisher) {
      c->pub_id = static_cast<uint32_t>(i);
      c->wbuf.reset(new uint8_t[kMaxBatch * kFrameSize]);
      for (int k = 0; k < kMaxBatch; ++k)
        c->frame.build(c->wbuf.get() + k * kFrameSize, Payload{c->pub_id, 0, 0});
      c->timer.emplace(w.ioc);
    }
    return c;
  }

  void begin(Worker& w, uint64_t start) const override {
    for (auto& c : w.conns) {
      if (c->dead || !c->upgraded || c->role != Role::publisher)
        continue;
      c->timer->expires_at(asio::steady_timer::clock_type::time_point(std::chrono::nanoseconds(start)));
      c->timer->async_wait([cp = c.get()](boost::system::error_code e) {
        if (!e)
          cp->publish_tick();
      });
    }
  }

private:
  bool cluster_;
  int nodes_;
  int pub_ids_;
};

} // namespace

std::unique_ptr<Workload> make_fanout(const Config& c) { return std::make_unique<Fanout>(c); }

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

std::string cluster_node_lines(const std::vector<NodeReport>& nodes, double duration) {
  auto us = [](uint64_t ns) { return static_cast<double>(ns) / 1000.0; };
  std::string lines;
  for (std::size_t k = 0; k < nodes.size(); ++k) {
    const NodeReport& n = nodes[k];
    char b[512];
    std::snprintf(
        b, sizeof b, "node %zu %s: members %" PRIu64 " received %" PRIu64 " msgs/s %.0f p50 %.0f us p99 %.0f us%s\n",
        k + 1, n.url.c_str(), n.members, n.received, static_cast<double>(n.received_window) / duration,
        us(n.hist->percentile(0.50)), us(n.hist->percentile(0.99)), k ? " (cross-node)" : " (publishers' node)");
    lines += b;
  }
  return lines;
}

} // namespace chatbench
