// What a benchmark reads of the server's process from /proc: its resident
// memory and the CPU time it has used. Shared by chat-bench and the
// deflate and presence benches.
#pragma once

#include <vector>

namespace chatbench {

long read_rss_kb(long pid);  // VmRSS, -1 when unknown
double read_cpu_s(long pid); // user + system CPU seconds, -1 when unknown
// Summed over pids; -1 when any is unknown (or none given).
double read_cpu_s(const std::vector<long>& pids);

} // namespace chatbench
