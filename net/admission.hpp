#pragma once

#include "net/server_options.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace chatd::net {

// A token bucket: `rate` tokens a second, at most `burst` saved up. Not
// thread-safe; a rate of 0 means no limit.
class token_bucket {
public:
  using clock = std::chrono::steady_clock;
  token_bucket(double rate, double burst);
  bool take(clock::time_point now);

private:
  double rate_;
  double burst_;
  double tokens_;
  clock::time_point last_{};
};

// Lets a kind of log line through a few times a second and counts the rest,
// so an attack cannot flood the log. Thread-safe.
class log_limiter {
public:
  explicit log_limiter(unsigned per_second = 5) : per_second_(per_second) {}
  // Empty: stay quiet. Otherwise how many lines were held back since the
  // last one that was let through.
  std::optional<std::uint64_t> allow();

private:
  std::mutex mutex_;
  unsigned per_second_;
  std::chrono::steady_clock::time_point window_{};
  unsigned in_window_ = 0;
  std::uint64_t suppressed_ = 0;
};

// " (N similar lines suppressed)" or "".
std::string suppressed_note(std::uint64_t suppressed);

// Who may connect, shared by every loop of a server: the Origin allow-list,
// the connection limit and the handshake rate guard.
class admission {
public:
  explicit admission(const server_options& options);

  // Browsers send Origin; other clients usually do not, and are let in (the
  // check protects browser users from cross-site WebSocket hijacking).
  bool origin_allowed(std::string_view origin) const;
  bool origins_open() const { return origins_.empty(); }

  // Takes a connection slot; false when --max-connections are open.
  bool reserve();
  void release();

  // One token of the handshake rate guard; false during a storm.
  bool take_handshake();

  log_limiter refusal_log;
  log_limiter close_log;

private:
  std::vector<std::string> origins_; // normalized; empty: any
  std::size_t max_connections_;
  std::atomic<std::size_t> open_{0};
  std::mutex bucket_mutex_;
  token_bucket handshakes_;
};

// Lower-cased, without a trailing slash: how origins are compared.
std::string normalize_origin(std::string_view origin);

} // namespace chatd::net
