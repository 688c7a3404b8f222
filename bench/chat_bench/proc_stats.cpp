#include "proc_stats.hpp"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>

namespace chatbench {

long read_rss_kb(long pid) {
  if (pid <= 0)
    return -1;
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::atol(line.c_str() + 6);
  return -1;
}

double read_cpu_s(long pid) {
  if (pid <= 0)
    return -1;
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto rp = s.rfind(')');
  if (rp == std::string::npos)
    return -1;
  std::istringstream in(s.substr(rp + 2));
  std::string tok;
  unsigned long long ut = 0, st = 0;
  for (int field = 3; in >> tok; ++field) { // field 3 is state
    if (field == 14)
      ut = std::strtoull(tok.c_str(), nullptr, 10);
    if (field == 15) {
      st = std::strtoull(tok.c_str(), nullptr, 10);
      break;
    }
  }
  return static_cast<double>(ut + st) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double read_cpu_s(const std::vector<long>& pids) {
  if (pids.empty())
    return -1;
  double total = 0;
  for (long pid : pids) {
    double s = read_cpu_s(pid);
    if (s < 0)
      return -1;
    total += s;
  }
  return total;
}

} // namespace chatbench
