// Fuzzes the HTTP side of chatd's port as a client reaches it: the input is
// everything one client sends on one connection (requests, pipelined
// requests, upgrades, and whatever follows them), written to chatd's real
// network side over loopback. What chatd answers is checked too: one
// well-formed status line with a status chatd uses (after a 100 Continue
// where the request asked for one), after a 101 only
// well-formed WebSocket frames, and no WebSocket session left afterwards.
#include "tests/fuzz/harness.hpp"

#include <cstdint>
#include <string_view>

namespace {

// Every status chatd (or Beast's WebSocket handshake, 426) answers with.
bool expected_status(std::string_view code) {
  for (std::string_view known :
       {"101", "200", "202", "400", "401", "403", "404", "405", "413", "415", "426", "431", "503"})
    if (code == known)
      return true;
  return false;
}

void check_answer(std::string_view answer) {
  // A request that says "Expect: 100-continue" is told to go on first.
  constexpr std::string_view go_on = "HTTP/1.1 100 Continue\r\n\r\n";
  if (answer.starts_with(go_on))
    answer.remove_prefix(go_on.size());
  if (answer.empty())
    return; // e.g. nothing, or nothing complete, was sent
  // "HTTP/1.1 200 OK\r\n"
  auto digit = [&](std::size_t i) { return i < answer.size() && answer[i] >= '0' && answer[i] <= '9'; };
  if (!answer.starts_with("HTTP/") || !digit(5) || answer.size() < 13 || answer[6] != '.' || !digit(7) ||
      answer[8] != ' ' || !digit(9) || !digit(10) || !digit(11) || answer[12] != ' ')
    chatd::fuzz::fail("chatd's answer does not start with a status line", answer);
  auto status = answer.substr(9, 3);
  if (!expected_status(status))
    chatd::fuzz::fail("chatd answered with a status it is not known to use", answer);
  if (status == "101") {
    auto end = answer.find("\r\n\r\n");
    if (end == std::string_view::npos)
      return; // cut short
    chatd::fuzz::check_server_frames(answer.substr(end + 4));
  }
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  chatd::fuzz::server_port(); // starts the server once, before the first input
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  chatd::fuzz::client client{chatd::fuzz::server_port()};
  check_answer(client.exchange(data, size));
  chatd::fuzz::expect_no_sessions();
  return 0;
}
