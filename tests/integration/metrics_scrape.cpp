#include "metrics_scrape.hpp"

#include "http_probe.hpp"
#include "wait_until.hpp"

#include <cstdlib>
#include <stdexcept>
#include <string>

namespace chatd::itest {

std::optional<double> metric_value(std::string_view exposition, std::string_view name) {
  std::optional<double> total;
  while (!exposition.empty()) {
    const auto end = exposition.find('\n');
    std::string_view line = exposition.substr(0, end);
    exposition.remove_prefix(end == std::string_view::npos ? exposition.size() : end + 1);

    if (!line.starts_with(name))
      continue;
    line.remove_prefix(name.size());
    if (line.starts_with('{')) {
      const auto close = line.find('}');
      if (close == std::string_view::npos)
        continue;
      line.remove_prefix(close + 1);
    }
    // Anything but a space here means a longer name that shares the prefix.
    if (!line.starts_with(' '))
      continue;
    line.remove_prefix(1);
    const std::string number(line.substr(0, line.find(' '))); // drop an optional timestamp
    char* parsed_end = nullptr;
    const double value = std::strtod(number.c_str(), &parsed_end);
    if (number.empty() || *parsed_end != '\0')
      throw std::runtime_error("unparsable metric line for " + std::string(name) + ": " + number);
    total = total.value_or(0.0) + value;
  }
  return total;
}

std::optional<double> wait_for_metric(unsigned short port, std::string_view name, double expected,
                                      std::chrono::milliseconds timeout) {
  std::optional<double> last;
  wait_until(
      [&] {
        const http_response response = http_get(port, "/metrics");
        if (response.status != 200)
          throw std::runtime_error("GET /metrics returned " + std::to_string(response.status));
        last = metric_value(response.body, name);
        return last == expected;
      },
      timeout, std::chrono::milliseconds(20));
  return last;
}

} // namespace chatd::itest
