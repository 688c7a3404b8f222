#include "net/admission.hpp"

#include <algorithm>
#include <cctype>
#include <utility>

namespace chatd::net {

token_bucket::token_bucket(double rate, double burst) : rate_(rate), burst_(std::max(burst, 1.0)), tokens_(burst_) {}

bool token_bucket::take(clock::time_point now) {
  if (rate_ <= 0)
    return true;
  if (last_ != clock::time_point{})
    tokens_ = std::min(burst_, tokens_ + std::chrono::duration<double>(now - last_).count() * rate_);
  last_ = now;
  if (tokens_ < 1.0)
    return false;
  tokens_ -= 1.0;
  return true;
}

std::optional<std::uint64_t> log_limiter::allow() {
  auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mutex_);
  if (now - window_ >= std::chrono::seconds(1)) {
    window_ = now;
    in_window_ = 0;
  }
  if (in_window_ >= per_second_) {
    ++suppressed_;
    return std::nullopt;
  }
  ++in_window_;
  return std::exchange(suppressed_, 0);
}

std::string suppressed_note(std::uint64_t suppressed) {
  return suppressed == 0 ? std::string{} : " (" + std::to_string(suppressed) + " similar lines suppressed)";
}

std::string normalize_origin(std::string_view origin) {
  std::string out(origin);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  while (!out.empty() && out.back() == '/')
    out.pop_back();
  return out;
}

admission::admission(const server_options& options)
  : max_connections_(options.max_connections)
  , handshakes_(options.max_handshakes_per_second, options.max_handshakes_per_second) {
  for (const auto& origin : options.allowed_origins)
    if (origin != "*")
      origins_.push_back(normalize_origin(origin));
  if (std::find(options.allowed_origins.begin(), options.allowed_origins.end(), "*") != options.allowed_origins.end())
    origins_.clear();
}

bool admission::origin_allowed(std::string_view origin) const {
  if (origins_.empty() || origin.empty())
    return true;
  return std::find(origins_.begin(), origins_.end(), normalize_origin(origin)) != origins_.end();
}

bool admission::reserve() {
  auto before = open_.fetch_add(1, std::memory_order_relaxed);
  if (max_connections_ == 0 || before < max_connections_)
    return true;
  open_.fetch_sub(1, std::memory_order_relaxed);
  return false;
}

void admission::release() { open_.fetch_sub(1, std::memory_order_relaxed); }

bool admission::take_handshake() {
  std::lock_guard lock(bucket_mutex_);
  return handshakes_.take(token_bucket::clock::now());
}

} // namespace chatd::net
