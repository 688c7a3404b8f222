#include "proto/chat_metrics.hpp"

#include <gtest/gtest.h>

TEST(chat_metrics, exposes_the_contract_names) {
  chatd::chat_metrics metrics;
  metrics.connections.Set(3);
  metrics.messages_received.Increment(5);
  metrics.closed(chatd::close_reason::slow_consumer).Increment();
  metrics.http_responses(404).Increment();
  auto text = metrics.serialize();
  for (auto line : {"chat_connections 3", "chat_connections_accepted_total 0", "chat_messages_received_total 5",
                    "chat_messages_delivered_total 0", "chat_slow_consumer_closes_total 0",
                    "chat_connections_closed_total{reason=\"slow_consumer\"} 1",
                    "chat_connections_closed_total{reason=\"client\"} 0", "chat_http_responses_total{code=\"404\"} 1",
                    "chat_broadcast_latency_seconds_count 0"})
    EXPECT_NE(text.find(std::string{line} + "\n"), std::string::npos) << line << "\n" << text;
}

TEST(chat_metrics, http_codes_share_one_counter_each) {
  chatd::chat_metrics metrics;
  metrics.http_responses(200).Increment();
  metrics.http_responses(200).Increment();
  EXPECT_NE(metrics.serialize().find("chat_http_responses_total{code=\"200\"} 2\n"), std::string::npos);
}
