#include "app/token_command.hpp"

#include "net/auth.hpp"

#include <jwt.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <memory>
#include <ostream>
#include <stdexcept>

namespace chatd::app {

namespace {
struct jwt_deleter {
  void operator()(jwt_t* jwt) const { jwt_free(jwt); }
};
} // namespace

int mint_token(const token_request& request, std::ostream& out, std::ostream& err,
               std::chrono::system_clock::time_point now) {
  net::auth::key key;
  try {
    key = net::auth::load_key_file(request.secret_file);
  } catch (const std::runtime_error& e) {
    err << "chatd token: --secret-file " << e.what() << "\n";
    return 1;
  }
  if (key.kind != net::auth::key_kind::hs256) {
    err << "chatd token: --secret-file " << request.secret_file << " holds a " << to_string(key.kind)
        << " public key; tokens are signed with an HS256 secret here\n";
    return 1;
  }
  const auto iat = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  const auto ttl = std::chrono::duration_cast<std::chrono::seconds>(request.ttl).count();
  nlohmann::json grants{{"sub", request.sub}, {"iat", iat}, {"exp", iat + ttl}};
  if (!request.name.empty())
    grants["name"] = request.name;
  if (!request.rooms.empty())
    grants["rooms"] = request.rooms;
  if (!request.issuer.empty())
    grants["iss"] = request.issuer;
  if (!request.audience.empty())
    grants["aud"] = request.audience;

  jwt_t* raw = nullptr;
  if (jwt_new(&raw) != 0) {
    err << "chatd token: out of memory\n";
    return 1;
  }
  std::unique_ptr<jwt_t, jwt_deleter> jwt{raw};
  const auto* secret = reinterpret_cast<const unsigned char*>(key.bytes.data());
  if (jwt_add_grants_json(jwt.get(), grants.dump().c_str()) != 0 ||
      jwt_set_alg(jwt.get(), JWT_ALG_HS256, secret, static_cast<int>(key.bytes.size())) != 0) {
    err << "chatd token: cannot build the token\n";
    return 1;
  }
  char* token = jwt_encode_str(jwt.get());
  if (!token) {
    err << "chatd token: cannot sign the token\n";
    return 1;
  }
  out << token << "\n";
  std::free(token);
  return 0;
}

} // namespace chatd::app
