// net/auth: keys, token checks (each refusal with a token made here with
// libjwt), claims and room patterns, and where a request's token is found.
#include "net/auth.hpp"
#include "tests/test_jwt.hpp"

#include <gtest/gtest.h>
#include <jwt.h>
#include <nlohmann/json.hpp>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>

using namespace chatd::net;
using namespace chatd::net::auth;
using namespace std::chrono_literals;
using json = nlohmann::json;
using clock_type = std::chrono::system_clock;

namespace {

const std::string secret = "0123456789abcdef0123456789abcdef-test-secret";

long long seconds(clock_type::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

std::string make_token(const json& claims, jwt_alg_t alg = JWT_ALG_HS256, const std::string& key = secret) {
  return chatd::test_jwt::make_token(claims, alg, key);
}

json valid_claims() { return {{"sub", "alice"}, {"exp", seconds(clock_type::now() + 1h)}}; }

using chatd::test_jwt::key_pair;
using chatd::test_jwt::make_key_pair;

const key_pair& rsa_keys() {
  static const key_pair keys = make_key_pair(EVP_RSA_gen(2048));
  return keys;
}

const key_pair& ec_keys() {
  static const key_pair keys = make_key_pair(EVP_EC_gen("P-256"));
  return keys;
}

token_verifier hs256_verifier(verifier_options options = {}) { return {parse_key(secret), std::move(options)}; }

verifier_options checking(std::string issuer, std::string audience, std::chrono::seconds clock_skew = 30s) {
  verifier_options options;
  options.issuer = std::move(issuer);
  options.audience = std::move(audience);
  options.clock_skew = clock_skew;
  return options;
}

std::string problem_of(const token_verifier& verifier, const std::string& token) {
  auto checked = verifier.verify(token);
  EXPECT_FALSE(checked) << "accepted: " << token;
  // The reason is logged: it must never carry the token.
  EXPECT_EQ(checked.problem.find(token), std::string::npos) << checked.problem;
  return checked.problem;
}

} // namespace

TEST(AuthKey, ASecretFileLosesItsTrailingNewline) {
  auto key = parse_key(secret + "\n");
  EXPECT_EQ(key.kind, key_kind::hs256);
  EXPECT_EQ(key.bytes, secret);
  EXPECT_EQ(parse_key(secret + "\r\n").bytes, secret);
}

TEST(AuthKey, AnEmptyOrShortSecretIsRefused) {
  EXPECT_THROW(parse_key(""), std::runtime_error);
  EXPECT_THROW(parse_key("\n"), std::runtime_error);
  try {
    parse_key("short");
    FAIL() << "a 5-byte secret was taken";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("at least 32"), std::string::npos) << e.what();
  }
}

TEST(AuthKey, PublicKeysAreToldApartByType) {
  EXPECT_EQ(parse_key(rsa_keys().public_pem).kind, key_kind::rs256);
  EXPECT_EQ(parse_key(ec_keys().public_pem).kind, key_kind::es256);
  EXPECT_STREQ(to_string(key_kind::rs256), "RS256");
  EXPECT_STREQ(to_string(key_kind::es256), "ES256");
  EXPECT_STREQ(to_string(key_kind::hs256), "HS256");
}

TEST(AuthKey, PrivateKeysCertificatesAndOtherCurvesAreRefused) {
  for (const auto* pem : {&rsa_keys().private_pem, &ec_keys().private_pem}) {
    try {
      parse_key(*pem);
      FAIL() << "a private key was taken";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find("private key"), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(parse_key("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"), std::runtime_error);
  EXPECT_THROW(parse_key("-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n"), std::runtime_error);
  auto p384 = make_key_pair(EVP_EC_gen("P-384"));
  EXPECT_THROW(parse_key(p384.public_pem), std::runtime_error);
}

TEST(AuthKey, AMissingFileIsAnErrorNamingIt) {
  try {
    load_key_file("/nonexistent/chatd-key");
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/chatd-key"), std::string::npos) << e.what();
  }
}

TEST(AuthVerify, AValidTokenGivesItsIdentityAndRooms) {
  const auto exp = clock_type::now() + 1h;
  auto claims = valid_claims();
  claims["exp"] = seconds(exp);
  claims["name"] = "Alice";
  claims["rooms"] = {"lobby", "team-*"};
  auto checked = hs256_verifier().verify(make_token(claims));
  ASSERT_TRUE(checked) << checked.problem;
  EXPECT_EQ(checked.claims->who.user, "alice");
  EXPECT_EQ(checked.claims->who.name, "Alice");
  ASSERT_TRUE(checked.claims->who.expires);
  EXPECT_EQ(seconds(*checked.claims->who.expires), seconds(exp));
  ASSERT_TRUE(checked.claims->rooms);
  EXPECT_EQ(*checked.claims->rooms, (std::vector<std::string>{"lobby", "team-*"}));
}

TEST(AuthVerify, OptionalClaimsMayBeLeftOut) {
  auto checked = hs256_verifier().verify(make_token({{"sub", "bob"}}));
  ASSERT_TRUE(checked) << checked.problem;
  EXPECT_EQ(checked.claims->who.user, "bob");
  EXPECT_TRUE(checked.claims->who.name.empty());
  EXPECT_FALSE(checked.claims->who.expires);
  EXPECT_FALSE(checked.claims->rooms);
}

TEST(AuthVerify, ABadSignatureIsRefused) {
  const auto verifier = hs256_verifier();
  EXPECT_EQ(problem_of(verifier, make_token(valid_claims(), JWT_ALG_HS256, secret + "-other")), "bad token signature");
  // The claims of a good token swapped for others: the signature no longer fits.
  auto good = make_token(valid_claims());
  auto forged = make_token({{"sub", "mallory"}, {"exp", seconds(clock_type::now() + 1h)}}, JWT_ALG_HS256, "x" + secret);
  auto spliced = good.substr(0, good.find('.')) +
                 forged.substr(forged.find('.'), forged.rfind('.') - forged.find('.')) + good.substr(good.rfind('.'));
  EXPECT_EQ(problem_of(verifier, spliced), "bad token signature");
  // No signature at all.
  EXPECT_EQ(problem_of(verifier, good.substr(0, good.rfind('.') + 1)), "bad token signature");
}

TEST(AuthVerify, AlgNoneIsAlwaysRefused) {
  const auto none = make_token(valid_claims(), JWT_ALG_NONE);
  EXPECT_NE(problem_of(hs256_verifier(), none).find("alg"), std::string::npos);
  EXPECT_FALSE(token_verifier(parse_key(rsa_keys().public_pem), {}).verify(none));
  EXPECT_FALSE(token_verifier(parse_key(ec_keys().public_pem), {}).verify(none));
}

TEST(AuthVerify, AnAlgOtherThanTheKeysIsRefused) {
  EXPECT_EQ(problem_of(hs256_verifier(), make_token(valid_claims(), JWT_ALG_HS512)),
            "token alg HS512, the key is HS256");
  EXPECT_EQ(problem_of(hs256_verifier(), make_token(valid_claims(), JWT_ALG_RS256, rsa_keys().private_pem)),
            "token alg RS256, the key is HS256");
  const token_verifier es256(parse_key(ec_keys().public_pem), {});
  EXPECT_EQ(problem_of(es256, make_token(valid_claims(), JWT_ALG_RS256, rsa_keys().private_pem)),
            "token alg RS256, the key is ES256");
}

TEST(AuthVerify, AnHs256TokenSignedWithThePublicKeyTextIsRefused) {
  // Algorithm confusion: a verifier that took the header's word would check
  // this HMAC with the PEM text as its secret, and it would match.
  for (const auto* keys : {&rsa_keys(), &ec_keys()}) {
    const token_verifier verifier(parse_key(keys->public_pem), {});
    const auto confused = make_token(valid_claims(), JWT_ALG_HS256, keys->public_pem);
    EXPECT_NE(problem_of(verifier, confused).find("token alg HS256"), std::string::npos);
  }
}

TEST(AuthVerify, Rs256AndEs256TokensAreCheckedWithThePublicKey) {
  const token_verifier rs256(parse_key(rsa_keys().public_pem), {});
  auto checked = rs256.verify(make_token(valid_claims(), JWT_ALG_RS256, rsa_keys().private_pem));
  ASSERT_TRUE(checked) << checked.problem;
  EXPECT_EQ(checked.claims->who.user, "alice");
  const token_verifier es256(parse_key(ec_keys().public_pem), {});
  checked = es256.verify(make_token(valid_claims(), JWT_ALG_ES256, ec_keys().private_pem));
  ASSERT_TRUE(checked) << checked.problem;
  // Signed with another key of the same kind.
  auto other_ec = make_key_pair(EVP_EC_gen("P-256"));
  EXPECT_EQ(problem_of(es256, make_token(valid_claims(), JWT_ALG_ES256, other_ec.private_pem)), "bad token signature");
}

TEST(AuthVerify, AnExpiredTokenIsRefused) {
  const auto now = clock_type::now();
  auto claims = valid_claims();
  claims["exp"] = seconds(now) - 10;
  EXPECT_EQ(problem_of(hs256_verifier(), make_token(claims)), "token expired");
  // exp is the first instant it is no longer valid.
  claims["exp"] = seconds(now) + 100;
  const auto token = make_token(claims);
  EXPECT_TRUE(hs256_verifier().verify(token, clock_type::time_point{std::chrono::seconds{seconds(now) + 99}}));
  EXPECT_FALSE(hs256_verifier().verify(token, clock_type::time_point{std::chrono::seconds{seconds(now) + 100}}));
  claims["exp"] = "tomorrow";
  EXPECT_EQ(problem_of(hs256_verifier(), make_token(claims)), "token exp is not a number");
}

TEST(AuthVerify, ATokenNotYetValidIsRefusedBeyondTheClockSkew) {
  auto claims = valid_claims();
  claims["nbf"] = seconds(clock_type::now() + 1h);
  EXPECT_EQ(problem_of(hs256_verifier(), make_token(claims)), "token not yet valid (nbf)");
  // An issuer whose clock is a few seconds ahead.
  claims["nbf"] = seconds(clock_type::now() + 5s);
  EXPECT_TRUE(hs256_verifier().verify(make_token(claims)));
  claims["nbf"] = seconds(clock_type::now() + 5s);
  EXPECT_FALSE(hs256_verifier(checking("", "", 0s)).verify(make_token(claims)));
}

TEST(AuthVerify, TheIssuerMustMatchWhenOneIsSet) {
  const auto verifier = hs256_verifier(checking("https://auth.example", ""));
  auto claims = valid_claims();
  EXPECT_EQ(problem_of(verifier, make_token(claims)), "wrong token issuer");
  claims["iss"] = "https://evil.example";
  EXPECT_EQ(problem_of(verifier, make_token(claims)), "wrong token issuer");
  claims["iss"] = "https://auth.example";
  EXPECT_TRUE(verifier.verify(make_token(claims)));
  // Not set: not checked.
  claims["iss"] = "anyone";
  EXPECT_TRUE(hs256_verifier().verify(make_token(claims)));
}

TEST(AuthVerify, TheAudienceMayBeAStringOrAnArray) {
  const auto verifier = hs256_verifier(checking("", "chatd"));
  auto claims = valid_claims();
  EXPECT_EQ(problem_of(verifier, make_token(claims)), "wrong token audience");
  claims["aud"] = "billing";
  EXPECT_EQ(problem_of(verifier, make_token(claims)), "wrong token audience");
  claims["aud"] = {"billing", "reports"};
  EXPECT_EQ(problem_of(verifier, make_token(claims)), "wrong token audience");
  claims["aud"] = "chatd";
  EXPECT_TRUE(verifier.verify(make_token(claims)));
  claims["aud"] = {"billing", "chatd"};
  EXPECT_TRUE(verifier.verify(make_token(claims)));
}

TEST(AuthVerify, ATokenWithoutASubIsRefused) {
  auto claims = valid_claims();
  claims.erase("sub");
  EXPECT_EQ(problem_of(hs256_verifier(), make_token(claims)), "token has no sub");
  claims["sub"] = "";
  EXPECT_EQ(problem_of(hs256_verifier(), make_token(claims)), "token has no sub");
  claims["sub"] = 42;
  EXPECT_EQ(problem_of(hs256_verifier(), make_token(claims)), "token has no sub");
}

TEST(AuthVerify, ClaimsOfTheWrongTypeMakeTheTokenInvalid) {
  auto claims = valid_claims();
  claims["rooms"] = "lobby";
  EXPECT_EQ(problem_of(hs256_verifier(), make_token(claims)), "token rooms is not an array");
  claims["rooms"] = {"lobby", 3};
  EXPECT_EQ(problem_of(hs256_verifier(), make_token(claims)), "token rooms holds something other than room names");
  claims["rooms"] = {"lobby", ""};
  EXPECT_FALSE(hs256_verifier().verify(make_token(claims)));
  claims["rooms"] = json::array();
  EXPECT_TRUE(hs256_verifier().verify(make_token(claims)));
  claims["name"] = json::object();
  EXPECT_EQ(problem_of(hs256_verifier(), make_token(claims)), "token name is not a string");
}

TEST(AuthVerify, GarbageIsMalformed) {
  for (const std::string token : {"", "x", "a.b.c", "....", "eyJhbGciOiJIUzI1NiJ9"})
    EXPECT_FALSE(hs256_verifier().verify(token)) << token;
}

TEST(AuthRooms, PatternsAreNamesOrPrefixes) {
  EXPECT_TRUE(room_pattern_matches("lobby", "lobby"));
  EXPECT_FALSE(room_pattern_matches("lobby", "lobby2"));
  EXPECT_FALSE(room_pattern_matches("lobby", "lobb"));
  EXPECT_TRUE(room_pattern_matches("team-*", "team-a"));
  EXPECT_TRUE(room_pattern_matches("team-*", "team-"));
  EXPECT_FALSE(room_pattern_matches("team-*", "team"));
  EXPECT_FALSE(room_pattern_matches("team-*", "other-team-a"));
  EXPECT_TRUE(room_pattern_matches("*", "anything"));
}

TEST(AuthRooms, NoRoomsClaimAllowsEveryRoomAnEmptyOneNone) {
  claims every;
  EXPECT_TRUE(every.allows("lobby"));
  claims none;
  none.rooms.emplace();
  EXPECT_FALSE(none.allows("lobby"));
  claims some;
  some.rooms = std::vector<std::string>{"lobby", "team-*"};
  EXPECT_TRUE(some.allows("lobby"));
  EXPECT_TRUE(some.allows("team-red"));
  EXPECT_FALSE(some.allows("default"));
}

TEST(AuthFindToken, FromTheQueryOrTheAuthorizationHeader) {
  EXPECT_EQ(find_token("/rooms/lobby?token=abc.def.ghi", ""), "abc.def.ghi");
  EXPECT_EQ(find_token("/rooms/lobby?since=4&token=abc.def&x=1", ""), "abc.def");
  EXPECT_EQ(find_token("/?token=a%2Eb", ""), "a.b");
  EXPECT_EQ(find_token("/rooms/lobby", "Bearer abc.def"), "abc.def");
  EXPECT_EQ(find_token("/rooms/lobby", "bearer   abc.def "), "abc.def");
  // The header wins over the query.
  EXPECT_EQ(find_token("/rooms/lobby?token=from-query", "Bearer from-header"), "from-header");
  EXPECT_EQ(find_token("/rooms/lobby?token=from-query", "Basic dXNlcjpwdw=="), "from-query");
}

TEST(AuthFindToken, NothingWhenNeitherHasOne) {
  EXPECT_EQ(find_token("/rooms/lobby", ""), "");
  EXPECT_EQ(find_token("/rooms/lobby?tokens=abc&xtoken=d&token", ""), "");
  EXPECT_EQ(find_token("/rooms/lobby?", "Bearer "), "");
  EXPECT_EQ(find_token("/rooms/lobby", "Basic dXNlcjpwdw=="), "");
}
