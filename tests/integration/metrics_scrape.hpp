#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace chatd::itest {

// The value of metric `name` in Prometheus text exposition: lines of the form
// `name 3` or `name{labels} 3`; labelled series of one name are summed.
// nullopt when no such line exists.
std::optional<double> metric_value(std::string_view exposition, std::string_view name);

// Scrapes GET /metrics until `name` equals `expected` or the deadline passes,
// and returns the last value seen: metric updates lag the events by a few ms.
std::optional<double> wait_for_metric(unsigned short port, std::string_view name, double expected,
                                      std::chrono::milliseconds timeout = std::chrono::seconds(10));

} // namespace chatd::itest
