#include "app/units.hpp"

#include <cctype>
#include <charconv>
#include <cstdint>
#include <limits>
#include <string>

namespace chatd::app {

namespace {

// Splits "123abc" into 123 and "abc"; nullopt when there is no leading number.
std::optional<std::pair<std::uint64_t, std::string_view>> split_number(std::string_view text) {
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end == text.data())
    return std::nullopt;
  return std::pair{value, text.substr(static_cast<std::size_t>(end - text.data()))};
}

std::optional<std::uint64_t> scaled(std::uint64_t value, std::uint64_t factor) {
  if (value > std::numeric_limits<std::uint64_t>::max() / factor)
    return std::nullopt;
  return value * factor;
}

} // namespace

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  auto parts = split_number(text);
  if (!parts)
    return std::nullopt;
  auto [value, unit] = *parts;
  std::uint64_t factor = 0;
  if (unit == "ms")
    factor = 1;
  else if (unit == "s" || unit.empty())
    factor = 1000;
  else if (unit == "m")
    factor = 60'000;
  else if (unit == "h")
    factor = 3'600'000;
  else
    return std::nullopt;
  auto ms = scaled(value, factor);
  if (!ms || *ms > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
    return std::nullopt;
  return std::chrono::milliseconds{static_cast<std::int64_t>(*ms)};
}

std::optional<std::size_t> parse_size(std::string_view text) {
  auto parts = split_number(text);
  if (!parts)
    return std::nullopt;
  auto [value, unit] = *parts;
  std::string u{unit};
  for (auto& c : u)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  static constexpr std::pair<std::string_view, std::uint64_t> units[] = {{"", 1},
                                                                         {"b", 1},
                                                                         {"k", 1ull << 10},
                                                                         {"kb", 1ull << 10},
                                                                         {"kib", 1ull << 10},
                                                                         {"m", 1ull << 20},
                                                                         {"mb", 1ull << 20},
                                                                         {"mib", 1ull << 20},
                                                                         {"g", 1ull << 30},
                                                                         {"gb", 1ull << 30},
                                                                         {"gib", 1ull << 30}};
  std::uint64_t factor = 0;
  for (auto [name, f] : units)
    if (u == name)
      factor = f;
  if (factor == 0)
    return std::nullopt;
  auto bytes = scaled(value, factor);
  if (!bytes)
    return std::nullopt;
  return static_cast<std::size_t>(*bytes);
}

} // namespace chatd::app
