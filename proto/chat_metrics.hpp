#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <memory>
#include <string>

namespace chatd {

// Why a WebSocket connection ended; each is a label of
// chat_connections_closed_total.
enum class close_reason {
  client,        // the client closed, or its socket went away
  idle_timeout,  // no traffic and no pong within --idle-timeout
  too_big,       // a message over --max-message-bytes (1009)
  slow_consumer, // outbound queue over --max-queue-bytes (1008)
  shutdown,      // the server is stopping (1001)
  protocol_error // a bad frame or handshake
};
inline constexpr std::size_t close_reason_count = 6;

const char* to_string(close_reason reason);

// Every metric chatd exposes on /metrics. The names are part of the user
// contract (see README). Counters are thread-safe; loops update them directly.
class chat_metrics {
public:
  chat_metrics();
  chat_metrics(const chat_metrics&) = delete;
  chat_metrics& operator=(const chat_metrics&) = delete;

  // The Prometheus text exposition of everything above.
  std::string serialize() const;

  prometheus::Gauge& connections;
  prometheus::Counter& connections_accepted;
  prometheus::Counter& messages_received;
  prometheus::Counter& messages_delivered;
  prometheus::Counter& slow_consumer_closes;
  prometheus::Gauge& rooms;
  prometheus::Histogram& broadcast_latency;
  prometheus::Gauge& cluster_peers;
  prometheus::Counter& cluster_messages_sent;
  prometheus::Counter& cluster_messages_received;

  prometheus::Counter& closed(close_reason reason) { return *closed_[static_cast<std::size_t>(reason)]; }
  // HTTP responses by status code (one label per code seen).
  prometheus::Counter& http_responses(unsigned status);

private:
  explicit chat_metrics(std::shared_ptr<prometheus::Registry> registry);

  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& http_family_;
  std::array<prometheus::Counter*, close_reason_count> closed_{};
};

} // namespace chatd
