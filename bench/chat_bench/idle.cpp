// idle: N connections that send nothing. The figure is the server's memory
// per connection: (server RSS at the end of the window - RSS before
// connecting) / N, from /proc/<pid>/status (--server-pid); main.cpp reads
// the RSS, common.cpp reports it.
#include "common.hpp"

namespace chatbench {

namespace {

class Idle : public Workload {
public:
  std::unique_ptr<Conn> make_conn(Run& run, Worker& w, int i) const override {
    auto c = std::make_unique<Conn>(&w, &run, w.ioc, i, Role::idle);
    c->path = run.cfg.targets[0].path;
    return c;
  }
};

} // namespace

std::unique_ptr<Workload> make_idle(const Config&) { return std::make_unique<Idle>(); }

} // namespace chatbench
