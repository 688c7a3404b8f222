#include "proto/chat_metrics.hpp"

#include <prometheus/text_serializer.h>

namespace chatd {

using namespace prometheus;

const char* to_string(close_reason reason) {
  switch (reason) {
    case close_reason::client: return "client";
    case close_reason::idle_timeout: return "idle_timeout";
    case close_reason::too_big: return "too_big";
    case close_reason::slow_consumer: return "slow_consumer";
    case close_reason::shutdown: return "shutdown";
    case close_reason::protocol_error: return "protocol_error";
    case close_reason::rate_limit: return "rate_limit";
    case close_reason::token_expired: return "token_expired";
    case close_reason::removed: return "removed";
  }
  return "unknown";
}

const char* to_string(refusal_reason reason) {
  switch (reason) {
    case refusal_reason::origin: return "origin";
    case refusal_reason::max_connections: return "max_connections";
    case refusal_reason::handshake_rate: return "handshake_rate";
    case refusal_reason::bad_room: return "bad_room";
    case refusal_reason::handshake_failed: return "handshake_failed";
    case refusal_reason::unauthorized: return "unauthorized";
    case refusal_reason::forbidden_room: return "forbidden_room";
    case refusal_reason::bad_query: return "bad_query";
  }
  return "unknown";
}

const char* to_string(drop_reason reason) {
  switch (reason) {
    case drop_reason::slow_consumer: return "slow_consumer";
    case drop_reason::closing: return "closing";
  }
  return "unknown";
}

chat_metrics::chat_metrics() : chat_metrics(std::make_shared<Registry>()) {}

chat_metrics::chat_metrics(std::shared_ptr<Registry> registry)
  : connections(BuildGauge()
                    .Name("chat_connections")
                    .Help("WebSocket connections open on this node")
                    .Register(*registry)
                    .Add({}))
  , connections_accepted(BuildCounter()
                             .Name("chat_connections_accepted_total")
                             .Help("WebSocket handshakes completed")
                             .Register(*registry)
                             .Add({}))
  , messages_received(BuildCounter()
                          .Name("chat_messages_received_total")
                          .Help("Messages read from clients of this node, and published through its server API")
                          .Register(*registry)
                          .Add({}))
  , messages_delivered(BuildCounter()
                           .Name("chat_messages_delivered_total")
                           .Help("Messages written to clients of this node")
                           .Register(*registry)
                           .Add({}))
  , slow_consumer_closes(BuildCounter()
                             .Name("chat_slow_consumer_closes_total")
                             .Help("Connections closed because their outbound queue stayed over --max-queue-bytes "
                                   "past --slow-consumer-grace or went over --max-queue-bytes-hard")
                             .Register(*registry)
                             .Add({}))
  , reads_paused(BuildCounter()
                     .Name("chat_reads_paused_total")
                     .Help("Times a client was not read from because its room's backlog was over --max-queue-bytes")
                     .Register(*registry)
                     .Add({}))
  , messages_compressed(BuildCounter()
                            .Name("chat_messages_compressed_total")
                            .Help("Messages compressed for permessage-deflate clients: once each, however many "
                                  "clients get them")
                            .Register(*registry)
                            .Add({}))
  , rooms(
        BuildGauge().Name("chat_rooms").Help("Rooms with at least one member on this node").Register(*registry).Add({}))
  , broadcast_latency(BuildHistogram()
                          .Name("chat_broadcast_latency_seconds")
                          .Help("From reading a message to handing it to the sessions of one loop")
                          .Register(*registry)
                          .Add({}, Histogram::BucketBoundaries{0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005,
                                                               0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25}))
  , cluster_peers(BuildGauge()
                      .Name("chat_cluster_peers")
                      .Help("Other nodes this node has a live link to")
                      .Register(*registry)
                      .Add({}))
  , cluster_ready(BuildGauge()
                      .Name("chat_cluster_ready")
                      .Help("1 once every seed in --peers is linked (or is this node) or --cluster-ready-grace is "
                            "over; 0 before")
                      .Register(*registry)
                      .Add({}))
  , cluster_messages_sent(BuildCounter()
                              .Name("chat_cluster_messages_sent_total")
                              .Help("Messages sent to peers (one per peer per message)")
                              .Register(*registry)
                              .Add({}))
  , cluster_messages_received(BuildCounter()
                                  .Name("chat_cluster_messages_received_total")
                                  .Help("Messages received from peers")
                                  .Register(*registry)
                                  .Add({}))
  , accept_failures(BuildCounter()
                        .Name("chat_accept_failures_total")
                        .Help("accept() errors (e.g. out of descriptors); the loop pauses accepting for 100 ms")
                        .Register(*registry)
                        .Add({}))
  , history_bytes(BuildGauge()
                      .Name("chat_history_bytes")
                      .Help("Bytes of room history this node keeps (bounded by --history-max-bytes)")
                      .Register(*registry)
                      .Add({}))
  , history_messages(BuildGauge()
                         .Name("chat_history_messages")
                         .Help("Messages of room history this node keeps")
                         .Register(*registry)
                         .Add({}))
  , cluster_order_dropped(BuildCounter()
                              .Name("chat_cluster_order_dropped_total")
                              .Help("Messages read here for a room another node orders, lost because no link to it "
                                    "was up")
                              .Register(*registry)
                              .Add({}))
  , registry_(std::move(registry))
  , http_family_(
        BuildCounter().Name("chat_http_responses_total").Help("HTTP responses by status code").Register(*registry_))
  , link_sent_family_(BuildCounter()
                          .Name("chat_cluster_link_messages_sent_total")
                          .Help("Messages sent to a peer, by peer node id")
                          .Register(*registry_))
  , link_received_family_(BuildCounter()
                              .Name("chat_cluster_link_messages_received_total")
                              .Help("Messages received from a peer, by peer node id")
                              .Register(*registry_))
  , cluster_dropped_family_(BuildCounter()
                                .Name("chat_cluster_messages_dropped_total")
                                .Help("Messages not sent to a known peer, by peer node id and reason")
                                .Register(*registry_))
  , cluster_unrouted_family_(BuildCounter()
                                 .Name("chat_cluster_messages_unrouted_total")
                                 .Help("Messages not sent to a linked peer because it has no members of their room")
                                 .Register(*registry_))
  , order_sent_family_(BuildCounter()
                           .Name("chat_cluster_order_sent_total")
                           .Help("Messages sent to a peer for it to order (it orders their room), by peer node id")
                           .Register(*registry_))
  , order_received_family_(BuildCounter()
                               .Name("chat_cluster_order_received_total")
                               .Help("Messages a peer sent for this node to order, by peer node id")
                               .Register(*registry_)) {
  auto& closed = BuildCounter()
                     .Name("chat_connections_closed_total")
                     .Help("WebSocket connections ended, by reason")
                     .Register(*registry_);
  for (std::size_t i = 0; i < close_reason_count; ++i)
    closed_[i] = &closed.Add({{"reason", to_string(static_cast<close_reason>(i))}});
  auto& refused = BuildCounter()
                      .Name("chat_connections_refused_total")
                      .Help("WebSocket upgrade requests turned away, by reason")
                      .Register(*registry_);
  for (std::size_t i = 0; i < refusal_reason_count; ++i)
    refused_[i] = &refused.Add({{"reason", to_string(static_cast<refusal_reason>(i))}});
  auto& dropped = BuildCounter()
                      .Name("chat_messages_dropped_total")
                      .Help("Messages not written to a client that was to get them, by reason")
                      .Register(*registry_);
  for (std::size_t i = 0; i < drop_reason_count; ++i)
    dropped_[i] = &dropped.Add({{"reason", to_string(static_cast<drop_reason>(i))}});
  auto by_recovered = [this](const char* name, const char* help, std::array<Counter*, 2>& out) {
    auto& family = BuildCounter().Name(name).Help(help).Register(*registry_);
    out[0] = &family.Add({{"recovered", "false"}});
    out[1] = &family.Add({{"recovered", "true"}});
  };
  by_recovered("chat_resumes_total",
               "chatd.v1 clients that reconnected with ?since=, by whether they got every message they missed",
               resumes_);
  by_recovered("chat_repairs_total",
               "chatd.v1 sessions that got a message after a gap and asked the room's ordering node for what they "
               "missed, by whether they got all of it",
               repairs_);
  // A node without seeds to wait for is ready at once; main() says otherwise.
  cluster_ready.Set(1);
}

Counter& chat_metrics::http_responses(unsigned status) {
  // Family::Add is thread-safe and returns the existing child for known labels.
  return http_family_.Add({{"code", std::to_string(status)}});
}

Counter& chat_metrics::cluster_link_sent(const std::string& peer) { return link_sent_family_.Add({{"peer", peer}}); }

Counter& chat_metrics::cluster_link_received(const std::string& peer) {
  return link_received_family_.Add({{"peer", peer}});
}

Counter& chat_metrics::cluster_unrouted(const std::string& peer) {
  return cluster_unrouted_family_.Add({{"peer", peer}});
}

Counter& chat_metrics::cluster_order_sent(const std::string& peer) { return order_sent_family_.Add({{"peer", peer}}); }

Counter& chat_metrics::cluster_order_received(const std::string& peer) {
  return order_received_family_.Add({{"peer", peer}});
}

Counter& chat_metrics::cluster_peer_down_drops(const std::string& peer) {
  return cluster_dropped_family_.Add({{"peer", peer}, {"reason", "peer_down"}});
}

std::string chat_metrics::serialize() const { return TextSerializer{}.Serialize(registry_->Collect()); }

} // namespace chatd
