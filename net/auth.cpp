#include "net/auth.hpp"

#include "proto/room_name.hpp"

#include <jwt.h>
#include <nlohmann/json.hpp>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>

namespace chatd::net::auth {

namespace {

using json = nlohmann::json;
using clock = std::chrono::system_clock;

// RFC 7518 3.2: an HS256 key at least as long as the hash.
constexpr std::size_t min_secret_bytes = 32;
// NumericDates past this (year 2200) do not fit a system_clock time point:
// such an `exp` is taken as "never".
constexpr double latest_expiry = 7'258'118'400.0;

struct jwt_deleter {
  void operator()(jwt_t* jwt) const { jwt_free(jwt); }
};
using jwt_ptr = std::unique_ptr<jwt_t, jwt_deleter>;

jwt_ptr decode(const std::string& token, const std::string* key) {
  jwt_t* jwt = nullptr;
  const auto* bytes = key ? reinterpret_cast<const unsigned char*>(key->data()) : nullptr;
  const int length = key ? static_cast<int>(key->size()) : 0;
  if (jwt_decode(&jwt, token.c_str(), bytes, length) != 0) {
    jwt_free(jwt);
    return nullptr;
  }
  return jwt_ptr{jwt};
}

jwt_alg_t libjwt_alg(key_kind kind) {
  switch (kind) {
    case key_kind::hs256: return JWT_ALG_HS256;
    case key_kind::rs256: return JWT_ALG_RS256;
    case key_kind::es256: return JWT_ALG_ES256;
  }
  return JWT_ALG_INVAL;
}

key_kind public_key_kind(const std::string& pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio{BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free};
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> pkey{
      bio ? PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr) : nullptr, EVP_PKEY_free};
  ERR_clear_error();
  if (!pkey)
    throw std::runtime_error("the PEM public key cannot be read");
  switch (EVP_PKEY_get_base_id(pkey.get())) {
    case EVP_PKEY_RSA: return key_kind::rs256;
    case EVP_PKEY_EC: {
      char group[64] = {};
      std::size_t length = 0;
      if (EVP_PKEY_get_utf8_string_param(pkey.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &length) != 1 ||
          std::string_view{group} != "prime256v1") {
        ERR_clear_error();
        throw std::runtime_error("an EC public key must be on curve P-256 (prime256v1) for ES256, this one is on " +
                                 std::string{group[0] ? group : "an unknown curve"});
      }
      return key_kind::es256;
    }
    default: throw std::runtime_error("the PEM public key is neither RSA (RS256) nor EC P-256 (ES256)");
  }
}

bool is_number(const json& grants, const char* name) { return grants.contains(name) && grants[name].is_number(); }

bool audience_matches(const json& aud, const std::string& audience) {
  if (aud.is_string())
    return aud.get<std::string>() == audience;
  if (!aud.is_array())
    return false;
  return std::any_of(aud.begin(), aud.end(),
                     [&](const json& entry) { return entry.is_string() && entry.get<std::string>() == audience; });
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trimmed(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t'))
    text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t'))
    text.remove_suffix(1);
  return text;
}

} // namespace

const char* to_string(key_kind kind) {
  switch (kind) {
    case key_kind::hs256: return "HS256";
    case key_kind::rs256: return "RS256";
    case key_kind::es256: return "ES256";
  }
  return "?";
}

key parse_key(std::string text) {
  constexpr std::string_view begin = "-----BEGIN ";
  if (auto at = text.find(begin); at != std::string::npos) {
    auto label_start = at + begin.size();
    auto label_end = text.find("-----", label_start);
    auto label = text.substr(label_start, label_end == std::string::npos ? 0 : label_end - label_start);
    if (label.find("PRIVATE KEY") != std::string::npos)
      throw std::runtime_error("it holds a private key (" + label +
                               "); give the public key instead (openssl pkey -in KEY -pubout)");
    if (label != "PUBLIC KEY")
      throw std::runtime_error("it holds a PEM " + (label.empty() ? std::string{"block"} : label) +
                               ", not a public key (-----BEGIN PUBLIC KEY-----)");
    auto kind = public_key_kind(text);
    return {kind, std::move(text)};
  }
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r'))
    text.pop_back();
  if (text.empty())
    throw std::runtime_error("the HS256 secret is empty");
  if (text.size() < min_secret_bytes)
    throw std::runtime_error("the HS256 secret is " + std::to_string(text.size()) + " bytes; it must be at least " +
                             std::to_string(min_secret_bytes) + " (make one with: openssl rand -base64 32)");
  return {key_kind::hs256, std::move(text)};
}

key load_key_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw std::runtime_error("cannot read " + path);
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad())
    throw std::runtime_error("cannot read " + path);
  try {
    return parse_key(text.str());
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(path + ": " + e.what());
  }
}

bool room_pattern_matches(std::string_view pattern, std::string_view room) {
  if (pattern.ends_with('*'))
    return room.starts_with(pattern.substr(0, pattern.size() - 1));
  return room == pattern;
}

bool claims::allows(std::string_view room) const {
  if (!rooms)
    return true;
  return std::any_of(rooms->begin(), rooms->end(),
                     [&](const std::string& pattern) { return room_pattern_matches(pattern, room); });
}

token_verifier::token_verifier(auth::key key, verifier_options options)
  : key_(std::move(key))
  , options_(std::move(options)) {}

verification token_verifier::verify(std::string_view token, clock::time_point now) const {
  auto refused = [](std::string why) { return verification{std::nullopt, std::move(why)}; };
  const std::string text{token};
  // The header's alg is compared before the signature is looked at: checked
  // with the key's own algorithm only, an HS256 token "signed" with the text
  // of a public key, or an unsigned one, never gets near libjwt's verifier.
  auto unverified = decode(text, nullptr);
  if (!unverified)
    return refused("malformed token");
  const char* alg = jwt_get_header(unverified.get(), "alg");
  if (!alg || std::string_view{alg} != to_string(key_.kind)) {
    // The token's own text is not logged: only an algorithm libjwt knows by name.
    auto named = alg ? jwt_str_alg(alg) : JWT_ALG_INVAL;
    return refused(std::string{"token alg "} + (named == JWT_ALG_INVAL ? "unknown" : jwt_alg_str(named)) +
                   ", the key is " + to_string(key_.kind));
  }
  auto verified = decode(text, &key_.bytes);
  if (!verified || jwt_get_alg(verified.get()) != libjwt_alg(key_.kind))
    return refused("bad token signature");

  char* grants_text = jwt_get_grants_json(verified.get(), nullptr);
  auto grants = grants_text ? json::parse(grants_text, nullptr, false) : json{};
  std::free(grants_text);
  if (!grants.is_object())
    return refused("malformed token claims");

  const double now_s = std::chrono::duration<double>(now.time_since_epoch()).count();
  claims out;
  if (grants.contains("exp")) {
    if (!is_number(grants, "exp"))
      return refused("token exp is not a number");
    const double exp = grants["exp"].get<double>();
    if (now_s >= exp)
      return refused("token expired");
    if (exp < latest_expiry)
      out.who.expires =
          clock::time_point{std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(exp))};
  }
  if (grants.contains("nbf")) {
    if (!is_number(grants, "nbf"))
      return refused("token nbf is not a number");
    if (now_s + static_cast<double>(options_.clock_skew.count()) < grants["nbf"].get<double>())
      return refused("token not yet valid (nbf)");
  }
  if (!options_.issuer.empty() &&
      !(grants.contains("iss") && grants["iss"].is_string() && grants["iss"].get<std::string>() == options_.issuer))
    return refused("wrong token issuer");
  if (!options_.audience.empty() && !(grants.contains("aud") && audience_matches(grants["aud"], options_.audience)))
    return refused("wrong token audience");
  if (!grants.contains("sub") || !grants["sub"].is_string() || grants["sub"].get<std::string>().empty())
    return refused("token has no sub");
  out.who.user = grants["sub"].get<std::string>();
  if (grants.contains("name")) {
    if (!grants["name"].is_string())
      return refused("token name is not a string");
    out.who.name = grants["name"].get<std::string>();
  }
  if (grants.contains("rooms")) {
    const auto& rooms = grants["rooms"];
    if (!rooms.is_array())
      return refused("token rooms is not an array");
    std::vector<std::string> patterns;
    for (const auto& entry : rooms) {
      if (!entry.is_string() || entry.get<std::string>().empty())
        return refused("token rooms holds something other than room names");
      patterns.push_back(entry.get<std::string>());
    }
    out.rooms = std::move(patterns);
  }
  return {std::move(out), {}};
}

std::string find_token(std::string_view target, std::string_view authorization) {
  authorization = trimmed(authorization);
  constexpr std::string_view bearer = "Bearer ";
  if (authorization.size() > bearer.size() && iequals(authorization.substr(0, bearer.size()), bearer))
    if (auto token = trimmed(authorization.substr(bearer.size())); !token.empty())
      return std::string{token};
  // A bad escape cannot be in a token (base64url and dots): kept as it is, it fails as one.
  auto value = query_parameter(target, "token");
  if (!value || value->empty())
    return {};
  return percent_decode(*value).value_or(std::string{*value});
}

} // namespace chatd::net::auth
