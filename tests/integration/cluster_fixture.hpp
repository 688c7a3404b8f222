#pragma once

#include "chatd_process.hpp"
#include "free_port.hpp"
#include "http_probe.hpp"
#include "metrics_scrape.hpp"
#include "ws_client.hpp"

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

namespace chatd::itest {

using namespace std::chrono_literals;

// Three nodes' cluster ports, chosen up front so every node can name the others.
class cluster_fixture : public ::testing::Test {
protected:
  void SetUp() override {
    for (auto& p : cluster_ports_)
      p = free_port();
  }

  void start(std::size_t i, const std::vector<std::string>& extra = {}) {
    std::string peers;
    for (auto p : cluster_ports_)
      peers += (peers.empty() ? "" : ",") + std::string{"127.0.0.1:"} + std::to_string(p);
    std::vector<std::string> args{"--threads",      "2",
                                  "--tick",         "200ms",
                                  "--node-id",      "n" + std::to_string(i + 1),
                                  "--cluster-port", std::to_string(cluster_ports_[i]),
                                  "--peers",        peers};
    args.insert(args.end(), extra.begin(), extra.end());
    nodes_[i] = std::make_unique<chatd_process>(args);
  }

  bool ready(std::size_t node) { return http_get(nodes_[node]->port(), "/readyz").status == 200; }

  void start_all() {
    for (std::size_t i = 0; i < nodes_.size(); ++i)
      start(i);
    wait_for_mesh();
  }

  void wait_for_mesh() {
    for (auto& node : nodes_) {
      if (node) {
        ASSERT_EQ(wait_for_metric(node->port(), "chat_cluster_peers", live_nodes() - 1.0, 20s), live_nodes() - 1.0);
      }
    }
  }

  double live_nodes() const {
    double n = 0;
    for (auto& node : nodes_)
      n += node ? 1 : 0;
    return n;
  }

  std::unique_ptr<ws_client> client(std::size_t node, const std::string& target = "/") {
    auto c = std::make_unique<ws_client>();
    c->connect(nodes_[node]->port(), target);
    return c;
  }

  // Every node's chat_ counters that are not zero, to say where messages went.
  std::string counters() {
    std::string out;
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      if (!nodes_[i])
        continue;
      out += "---- n" + std::to_string(i + 1) + " /metrics ----\n";
      std::istringstream lines(http_get(nodes_[i]->port(), "/metrics").body);
      for (std::string line; std::getline(lines, line);)
        if (line.starts_with("chat_") && !line.ends_with(" 0") && line.find("_bucket") == std::string::npos)
          out += line + "\n";
    }
    return out;
  }

  // Joins are asynchronous: wait until each node counts its clients.
  void wait_for_clients(std::size_t node, double count) {
    ASSERT_EQ(wait_for_metric(nodes_[node]->port(), "chat_connections", count), count);
  }

  std::array<unsigned short, 3> cluster_ports_{};
  std::array<std::unique_ptr<chatd_process>, 3> nodes_;
};

} // namespace chatd::itest
