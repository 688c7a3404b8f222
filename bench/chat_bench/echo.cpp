// echo: N clients, each alone in room PATH-e<i> (i counted from
// --index-base, so split processes do not share rooms), one message in
// flight each: a client sends the next message when its own comes back.
#include "common.hpp"

namespace chatbench {

namespace {

class Echo : public Workload {
public:
  std::unique_ptr<Conn> make_conn(Run& run, Worker& w, int i) const override {
    const Config& cfg = run.cfg;
    auto c = std::make_unique<Conn>(&w, &run, w.ioc, i, Role::echo);
    c->path = cfg.targets[0].path + "-e" + std::to_string(cfg.index_base + i);
    c->pub_id = 0; // alone in its room: publisher id 0
    c->next_seq.assign(1, 0);
    c->wbuf.reset(new uint8_t[kFrameSize]);
    c->frame.build(c->wbuf.get(), Payload{0, 0, 0});
    return c;
  }

  void begin(Worker& w, uint64_t) const override {
    for (auto& c : w.conns)
      if (!c->dead && c->upgraded)
        c->echo_send();
  }
};

} // namespace

std::unique_ptr<Workload> make_echo(const Config&) { return std::make_unique<Echo>(); }

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

} // namespace chatbench
