#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

namespace chatd::itest {

struct chatd_options {
  std::vector<std::string> args{};
  // "NAME=value" entries; the child gets the test's environment minus every
  // CHATD_* variable, plus these.
  std::vector<std::string> env{};
  // Adds --port 0 and --bind 127.0.0.1 unless `args` already sets them.
  bool listen_defaults = true;
};

struct chatd_exit {
  std::optional<int> status; // nullopt: still running at the deadline (then killed)
  std::string output;        // stdout and stderr, interleaved
};

// One real chatd process with its output captured in a temporary log file.
// Killed with SIGKILL and reaped on destruction if still running; its log is
// printed when the current test has failed.
class chatd_process {
public:
  explicit chatd_process(std::vector<std::string> args = {});
  // Starts chatd and waits (bounded) for its "listening on 127.0.0.1:<port>" line.
  explicit chatd_process(chatd_options options);
  ~chatd_process();

  chatd_process(const chatd_process&) = delete;
  chatd_process& operator=(const chatd_process&) = delete;

  // For runs that never listen (--help, bad flags, port in use).
  static chatd_exit run_to_exit(chatd_options options, std::chrono::milliseconds timeout);

  unsigned short port() const { return port_; }
  pid_t pid() const { return pid_; }

  std::string log_text() const;
  // Offsets into log_text(), to wait for something logged after a given point.
  std::size_t log_size() const;
  bool wait_for_log(std::string_view needle, std::chrono::milliseconds timeout, std::size_t from = 0) const;
  bool wait_for_log(const std::regex& pattern, std::chrono::milliseconds timeout, std::size_t from = 0) const;

  void send_signal(int signo);
  // The exit status, 128 + signal number if killed by a signal, or nullopt
  // if still running at the deadline.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);

private:
  struct no_wait_tag {};
  chatd_process(chatd_options options, no_wait_tag);

  void spawn(const chatd_options& options);
  void wait_listening(std::chrono::milliseconds timeout);
  bool poll_exit();
  void kill_and_reap();

  pid_t pid_ = -1;
  std::optional<int> exit_status_;
  std::string log_path_;
  unsigned short port_ = 0;
};

} // namespace chatd::itest
