#include "chatd_process.hpp"

#include "wait_until.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <thread>

extern char** environ;

namespace chatd::itest {

namespace {

using namespace std::chrono_literals;

constexpr auto listen_timeout = 15s;
constexpr std::size_t printed_log_limit = 64 * 1024;

bool has_flag(const std::vector<std::string>& args, std::string_view flag) {
  return std::any_of(args.begin(), args.end(), [flag](const std::string& arg) {
    return arg == flag || arg.starts_with(std::string(flag) + "=");
  });
}

std::vector<std::string> full_argv(const chatd_options& options) {
  std::vector<std::string> argv{CHATD_BINARY};
  argv.insert(argv.end(), options.args.begin(), options.args.end());
  if (options.listen_defaults) {
    if (!has_flag(options.args, "--port"))
      argv.insert(argv.end(), {"--port", "0"});
    if (!has_flag(options.args, "--bind"))
      argv.insert(argv.end(), {"--bind", "127.0.0.1"});
  }
  return argv;
}

std::vector<std::string> child_environment(const chatd_options& options) {
  std::vector<std::string> env;
  for (char** entry = environ; entry && *entry; ++entry) {
    // Flags set in the test's own environment stay out, except the one
    // scripts/test.sh sets for the sanitizer suites (see there).
    std::string_view e{*entry};
    if (!e.starts_with("CHATD_") || e.starts_with("CHATD_CLUSTER_TIMEOUT="))
      env.emplace_back(*entry);
  }
  env.insert(env.end(), options.env.begin(), options.env.end());
  return env;
}

std::vector<char*> c_strings(std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  for (auto& s : strings)
    pointers.push_back(s.data());
  pointers.push_back(nullptr);
  return pointers;
}

int decode_status(int status) {
  if (WIFEXITED(status))
    return WEXITSTATUS(status);
  return 128 + WTERMSIG(status);
}

} // namespace

chatd_process::chatd_process(std::vector<std::string> args) : chatd_process(chatd_options{.args = std::move(args)}) {}

chatd_process::chatd_process(chatd_options options) {
  spawn(options);
  try {
    wait_listening(listen_timeout);
  } catch (...) {
    // The destructor does not run for a failed constructor.
    kill_and_reap();
    std::filesystem::remove(log_path_);
    throw;
  }
}

chatd_process::chatd_process(chatd_options options, no_wait_tag) { spawn(options); }

chatd_process::~chatd_process() {
  kill_and_reap();
  // During unwinding GoogleTest has not recorded the escaping exception yet.
  if (::testing::Test::HasFailure() || std::uncaught_exceptions() > 0) {
    std::string log = log_text();
    if (log.size() > printed_log_limit)
      log = "...\n" + log.substr(log.size() - printed_log_limit);
    std::cerr << "---- chatd log (pid " << pid_ << ", port " << port_ << ") ----\n"
              << log << "\n---- end of chatd log ----\n";
  }
  std::error_code ignored;
  std::filesystem::remove(log_path_, ignored);
}

chatd_exit chatd_process::run_to_exit(chatd_options options, std::chrono::milliseconds timeout) {
  chatd_process process(std::move(options), no_wait_tag{});
  chatd_exit result;
  result.status = process.wait_exit(timeout);
  result.output = process.log_text();
  return result;
}

void chatd_process::spawn(const chatd_options& options) {
  std::vector<std::string> argv_strings = full_argv(options);
  std::vector<std::string> env_strings = child_environment(options);
  std::vector<char*> argv = c_strings(argv_strings);
  std::vector<char*> envp = c_strings(env_strings);

  std::string path_template = (std::filesystem::temp_directory_path() / "chatd-itest-XXXXXX.log").string();
  const int log_fd = ::mkostemps(path_template.data(), 4, O_CLOEXEC);
  if (log_fd < 0)
    throw std::system_error(errno, std::generic_category(), "mkostemps");
  log_path_ = path_template;
  const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd < 0) {
    ::close(log_fd);
    throw std::system_error(errno, std::generic_category(), "open /dev/null");
  }

  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    // Only async-signal-safe calls from here on: the test may have threads.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL); // never outlive a crashed test
    if (::getppid() != parent)
      ::_exit(127);
    ::dup2(null_fd, STDIN_FILENO);
    ::dup2(log_fd, STDOUT_FILENO);
    ::dup2(log_fd, STDERR_FILENO);
    // Sockets the test holds (a listener blocking a port, clients) must not leak into chatd.
    ::close_range(3, ~0U, 0);
    ::execve(argv[0], argv.data(), envp.data());
    const char message[] = "chatd_process: execve failed\n";
    [[maybe_unused]] auto n = ::write(STDERR_FILENO, message, sizeof message - 1);
    ::_exit(127);
  }
  const int fork_errno = errno;
  ::close(log_fd);
  ::close(null_fd);
  if (pid < 0)
    throw std::system_error(fork_errno, std::generic_category(), "fork");
  pid_ = pid;
}

void chatd_process::wait_listening(std::chrono::milliseconds timeout) {
  static const std::regex listening(R"(listening on 127\.0\.0\.1:(\d+))");
  std::smatch match;
  std::string log;
  const bool found = wait_until(
      [&] {
        log = log_text();
        return std::regex_search(log, match, listening) || poll_exit();
      },
      timeout);
  if (found && !match.empty()) {
    const unsigned long port = std::stoul(match[1].str());
    if (port == 0 || port > 65535)
      throw std::runtime_error("chatd logged an invalid port:\n" + log);
    port_ = static_cast<unsigned short>(port);
    return;
  }
  std::ostringstream message;
  message << "chatd never logged 'listening on 127.0.0.1:<port>'";
  if (exit_status_)
    message << " (exited with status " << *exit_status_ << ")";
  else
    message << " within " << timeout.count() << " ms";
  message << "; its output:\n" << log;
  throw std::runtime_error(message.str());
}

std::string chatd_process::log_text() const {
  std::ifstream in(log_path_, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::size_t chatd_process::log_size() const {
  std::error_code ec;
  const auto size = std::filesystem::file_size(log_path_, ec);
  return ec ? 0 : static_cast<std::size_t>(size);
}

bool chatd_process::wait_for_log(std::string_view needle, std::chrono::milliseconds timeout, std::size_t from) const {
  return wait_until(
      [&] {
        const std::string log = log_text();
        return from <= log.size() && log.find(needle, from) != std::string::npos;
      },
      timeout);
}

bool chatd_process::wait_for_log(const std::regex& pattern, std::chrono::milliseconds timeout, std::size_t from) const {
  return wait_until(
      [&] {
        const std::string log = log_text();
        return from <= log.size() &&
               std::regex_search(log.begin() + static_cast<std::ptrdiff_t>(from), log.end(), pattern);
      },
      timeout);
}

void chatd_process::send_signal(int signo) {
  if (pid_ > 0 && !exit_status_ && ::kill(pid_, signo) != 0)
    throw std::system_error(errno, std::generic_category(), "kill");
}

std::optional<int> chatd_process::wait_exit(std::chrono::milliseconds timeout) {
  wait_until([this] { return poll_exit(); }, timeout, std::chrono::milliseconds(5));
  return exit_status_;
}

bool chatd_process::poll_exit() {
  if (exit_status_)
    return true;
  if (pid_ <= 0)
    return false;
  int status = 0;
  const pid_t reaped = ::waitpid(pid_, &status, WNOHANG);
  if (reaped == pid_)
    exit_status_ = decode_status(status);
  return exit_status_.has_value();
}

void chatd_process::kill_and_reap() {
  if (pid_ <= 0 || poll_exit())
    return;
  ::kill(pid_, SIGKILL);
  // SIGKILL cannot be caught; the bound only guards against an unkillable (D-state) child.
  if (!wait_until([this] { return poll_exit(); }, 10s, std::chrono::milliseconds(5)))
    std::cerr << "chatd_process: pid " << pid_ << " survived SIGKILL for 10 s\n";
}

} // namespace chatd::itest
