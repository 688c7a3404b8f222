// The steady workload: a fixed load that rides out faults. S subscribers and
// P publishers in the room of one URL; every publisher sends R msgs/s on a
// fixed schedule for the duration; every client reconnects (bounded backoff)
// when its connection drops or a connect or handshake hangs. The JSON report
// says, per publisher, every sequence number sent with its send time and the
// connection it went out on, and per subscriber what it received (ranges per
// publisher id) and when it was connected: enough to say which messages each
// subscriber missed and whether it was connected at the time. tests/faults/
// runs one per node of a cluster under faults and accounts for every miss.
// With v1 the clients speak chatd.v1 (JSON envelopes, v1.hpp): subscribers
// resume with ?since= and the report adds every receipt's place in the
// room's order (epoch, offset), every connection and every "resumed".
#pragma once

#include <cstdint>
#include <string>

namespace chatbench {

struct SteadyOptions {
  std::string host; // an IP address
  uint16_t port = 0;
  std::string path;
  std::string label;
  int subscribers = 0;
  int publishers = 0;
  uint32_t pub_id_base = 0; // publisher ids pub_id_base .. +P-1 (unique across processes)
  double rate = 50;         // msgs/s per publisher
  double duration = 10;     // seconds of publishing
  double drain = 3;         // max seconds after the end to wait for deliveries (stops after 1 s of quiet)
  double connect_timeout = 60;
  double attempt_timeout = 2; // one connect + handshake attempt
  double backoff_min = 0.1;   // reconnect backoff, doubling (jittered) up to backoff_max
  double backoff_max = 1;
  bool sync_stdin = false;
  bool v1 = false; // chatd.v1 instead of raw binary frames
  std::string json_file;
};

// Runs the workload; 0 when nothing impossible happened (no duplicate, no
// out-of-order delivery, no bad payload, every client connected at first),
// 1 otherwise. Misses are not failures here: the report has them. With v1,
// out-of-order (p, s) is reported but no failure (across epochs a sender's
// messages may interleave).
int run_steady(const SteadyOptions& opts);

} // namespace chatbench
