#pragma once

#include "net/identity.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace chatd::net::auth {

// The one algorithm a key is good for: an HS256 secret, an RSA public key
// (RS256) or a P-256 public key (ES256).
enum class key_kind { hs256, rs256, es256 };

// "HS256", "RS256", "ES256": the `alg` a token signed with the key carries.
const char* to_string(key_kind kind);

// A key as loaded from --auth-jwt-key.
struct key {
  key_kind kind = key_kind::hs256;
  std::string bytes; // the secret, or the PEM text of the public key
};

// A PEM "PUBLIC KEY" is RS256 or ES256 by its type; any other PEM block
// (a private key, a certificate) is refused; anything else is an HS256
// secret, without its trailing newline. Throws std::runtime_error with a
// message for the operator.
key parse_key(std::string text);
key load_key_file(const std::string& path);

// `pattern` is a room name, or a prefix of room names when it ends in `*`.
bool room_pattern_matches(std::string_view pattern, std::string_view room);

// What a valid token says about its holder.
struct claims {
  identity who;
  std::optional<std::vector<std::string>> rooms; // the `rooms` claim; empty optional: every room

  bool allows(std::string_view room) const;
};

struct verification {
  std::optional<auth::claims> claims; // set when the token is valid
  std::string problem;                // why not, otherwise; never contains the token

  explicit operator bool() const { return claims.has_value(); }
};

struct verifier_options {
  std::string issuer;   // empty: `iss` is not checked
  std::string audience; // empty: `aud` is not checked
  // How far ahead of ours the issuer's clock may be: `nbf` is honoured this
  // much early. `exp` is honoured to the second (the connection closes then).
  std::chrono::seconds clock_skew{30};
};

// Checks tokens against one key. The token's `alg` must be the key's; its
// signature is checked by libjwt, its times, issuer, audience and claims
// here. Immutable after construction: shared by every loop.
class token_verifier {
public:
  token_verifier(auth::key key, verifier_options options);

  key_kind kind() const { return key_.kind; }
  const verifier_options& options() const { return options_; }

  verification verify(std::string_view token,
                      std::chrono::system_clock::time_point now = std::chrono::system_clock::now()) const;

private:
  auth::key key_;
  verifier_options options_;
};

// The token of an upgrade request: an `Authorization: Bearer` header, or
// else the `token` query parameter of the target. Empty when there is none.
std::string find_token(std::string_view target, std::string_view authorization);

} // namespace chatd::net::auth
