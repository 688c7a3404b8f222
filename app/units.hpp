#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string_view>

namespace chatd::app {

// "500ms", "3s", "1m", "1h"; a bare number is seconds. Nothing negative or empty.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

// "65536", "64KiB", "1MiB", "2MB", "512k": a byte count. Powers of 1024 for K/Ki, M/Mi, G/Gi.
std::optional<std::size_t> parse_size(std::string_view text);

} // namespace chatd::app
