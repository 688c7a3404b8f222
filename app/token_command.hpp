#pragma once

#include <chrono>
#include <iosfwd>
#include <string>
#include <vector>

namespace chatd::app {

// `chatd token`: a development token, HS256-signed with the secret of an
// --auth-jwt-key file, printed on stdout.
struct token_request {
  std::string secret_file;
  std::string sub;
  std::string name;               // empty: no `name` claim
  std::vector<std::string> rooms; // empty: no `rooms` claim (every room)
  std::chrono::milliseconds ttl{std::chrono::hours{1}};
  std::string issuer;   // empty: no `iss`
  std::string audience; // empty: no `aud`
};

// Prints the token and a newline on `out` and returns 0, or a message on
// `err` and 1.
int mint_token(const token_request& request, std::ostream& out, std::ostream& err,
               std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

} // namespace chatd::app
