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
  client,         // the client closed, or its socket went away
  idle_timeout,   // no traffic and no pong within --idle-timeout
  too_big,        // a message over --max-message-bytes (1009)
  slow_consumer,  // outbound queue over --max-queue-bytes (1008)
  shutdown,       // the server is stopping (1001)
  protocol_error, // a bad frame or handshake
  rate_limit,     // messages over --max-messages-per-second (1008)
  token_expired,  // the token's exp passed while the connection was open (4001)
  removed         // DELETE /api/rooms/<room>/users/<user> (4003)
};
inline constexpr std::size_t close_reason_count = 9;

const char* to_string(close_reason reason);

// Why an upgrade request was turned away; each is a label of
// chat_connections_refused_total.
enum class refusal_reason {
  origin,           // Origin not in --allowed-origins (403)
  max_connections,  // --max-connections open (503)
  handshake_rate,   // over --max-handshakes-per-second (close 1013)
  bad_room,         // invalid room name (400)
  handshake_failed, // the WebSocket handshake did not complete (bad request, timeout, hang-up)
  unauthorized,     // no valid token with --auth-jwt-key set (401)
  forbidden_room,   // the token's `rooms` claim does not allow the room (403)
  bad_query         // a malformed ?since= or ?history= (400)
};
inline constexpr std::size_t refusal_reason_count = 8;

const char* to_string(refusal_reason reason);

// Why a message was not written to a client that was to get it; each is a
// label of chat_messages_dropped_total.
enum class drop_reason {
  slow_consumer, // queued for a client that was then closed as slow
  closing        // the client was already closing
};
inline constexpr std::size_t drop_reason_count = 2;

const char* to_string(drop_reason reason);

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
  prometheus::Counter& reads_paused;
  prometheus::Counter& messages_compressed;
  prometheus::Gauge& rooms;
  prometheus::Histogram& broadcast_latency;
  prometheus::Gauge& cluster_peers;
  // 1 once every seed in --peers is linked or found to be this node, or the
  // start-up grace period is over (and from the start without seeds): /readyz.
  prometheus::Gauge& cluster_ready;
  prometheus::Counter& cluster_messages_sent;
  prometheus::Counter& cluster_messages_received;
  prometheus::Counter& accept_failures;
  // What the rooms this node orders keep as history (net/room_history.hpp).
  prometheus::Gauge& history_bytes;
  prometheus::Gauge& history_messages;

  prometheus::Counter& closed(close_reason reason) { return *closed_[static_cast<std::size_t>(reason)]; }
  prometheus::Counter& refused(refusal_reason reason) { return *refused_[static_cast<std::size_t>(reason)]; }
  prometheus::Counter& dropped(drop_reason reason) { return *dropped_[static_cast<std::size_t>(reason)]; }
  // chatd.v1 clients that asked to resume (?since=), by whether it was seamless.
  prometheus::Counter& resumes(bool recovered) { return recovered ? *resumes_[1] : *resumes_[0]; }
  // chatd.v1 sessions that got a message after a gap (the node's link to the
  // room's ordering node was down) and asked for what they missed, by
  // whether they got all of it.
  prometheus::Counter& repairs(bool recovered) { return recovered ? *repairs_[1] : *repairs_[0]; }
  // HTTP responses by status code (one label per code seen).
  prometheus::Counter& http_responses(unsigned status);
  // Per peer node (label `peer`): messages sent on the link to it, received
  // on the link from it, and published while it was known but not linked.
  // A message lost on a link that died is the difference between the
  // sender's sent and the receiver's received.
  prometheus::Counter& cluster_link_sent(const std::string& peer);
  prometheus::Counter& cluster_link_received(const std::string& peer);
  prometheus::Counter& cluster_peer_down_drops(const std::string& peer);
  // Not sent to a linked peer because it has no members of the room (interest
  // routing): no client there could miss them.
  prometheus::Counter& cluster_unrouted(const std::string& peer);
  // Order across nodes: messages sent to peer `peer` for it to order (it
  // orders their rooms), received from it to order here, and read here for
  // a room another node orders when no link to it was up.
  prometheus::Counter& cluster_order_sent(const std::string& peer);
  prometheus::Counter& cluster_order_received(const std::string& peer);
  prometheus::Counter& cluster_order_dropped;

private:
  explicit chat_metrics(std::shared_ptr<prometheus::Registry> registry);

  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& http_family_;
  prometheus::Family<prometheus::Counter>& link_sent_family_;
  prometheus::Family<prometheus::Counter>& link_received_family_;
  prometheus::Family<prometheus::Counter>& cluster_dropped_family_;
  prometheus::Family<prometheus::Counter>& cluster_unrouted_family_;
  prometheus::Family<prometheus::Counter>& order_sent_family_;
  prometheus::Family<prometheus::Counter>& order_received_family_;
  std::array<prometheus::Counter*, close_reason_count> closed_{};
  std::array<prometheus::Counter*, refusal_reason_count> refused_{};
  std::array<prometheus::Counter*, drop_reason_count> dropped_{};
  std::array<prometheus::Counter*, 2> resumes_{};
  std::array<prometheus::Counter*, 2> repairs_{};
};

} // namespace chatd
