// --auth-jwt-key against a real chatd: tokens minted by `chatd token` and
// made here with libjwt (forged, expired, other keys), in the URL and in the
// Authorization header; 401/403 before the upgrade, 4001 at expiry.
#include "../test_jwt.hpp"
#include "chatd_process.hpp"
#include "http_probe.hpp"
#include "metrics_scrape.hpp"
#include "ws_client.hpp"

#include <gtest/gtest.h>
#include <jwt.h>
#include <nlohmann/json.hpp>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

namespace chatd::itest {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using json = nlohmann::json;
using system_clock = std::chrono::system_clock;

constexpr auto exit_timeout = 10s;
const std::string secret = "integration-test-secret-0123456789abcdef";

long long now_plus(std::chrono::seconds offset) {
  return std::chrono::duration_cast<std::chrono::seconds>((system_clock::now() + offset).time_since_epoch()).count();
}

std::string make_token(const json& claims, jwt_alg_t alg = JWT_ALG_HS256, const std::string& key = secret) {
  return test_jwt::make_token(claims, alg, key);
}

using test_jwt::key_pair;
using test_jwt::make_key_pair;

double refused(unsigned short port, const std::string& reason, double expected) {
  return wait_for_metric(port, "chat_connections_refused_total{reason=\"" + reason + "\"}", expected).value_or(-1);
}

std::string upgrade_request(unsigned short port, const std::string& target, const std::string& extra_headers = {}) {
  return "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
         "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
         "Sec-WebSocket-Version: 13\r\n" +
         extra_headers + "\r\n";
}

// Key files in a directory of their own for the suite.
class Auth : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("chatd-auth-test-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    write("secret", secret + "\n");
    rsa_ = make_key_pair(EVP_RSA_gen(2048));
    ec_ = make_key_pair(EVP_EC_gen("P-256"));
    write("rsa.pub", rsa_.public_pem);
    write("ec.pub", ec_.public_pem);
    write("ec.key", ec_.private_pem);
    write("empty", "\n");
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  static std::string path(const std::string& name) { return (dir_ / name).string(); }
  static void write(const std::string& name, const std::string& text) { std::ofstream(dir_ / name) << text; }

  // `chatd token` with these flags after --secret-file: the token it printed.
  static std::string chatd_token(std::vector<std::string> flags) {
    std::vector<std::string> args{"token", "--secret-file", path("secret")};
    args.insert(args.end(), flags.begin(), flags.end());
    const chatd_exit run = chatd_process::run_to_exit({.args = args, .listen_defaults = false}, exit_timeout);
    EXPECT_EQ(run.status, 0) << run.output;
    auto token = run.output;
    while (!token.empty() && token.back() == '\n')
      token.pop_back();
    EXPECT_EQ(token.find('\n'), std::string::npos) << "more than the token on its output: " << run.output;
    return token;
  }

  static inline fs::path dir_;
  static inline key_pair rsa_, ec_;
};

TEST_F(Auth, ATokenInTheQueryOrTheHeaderJoinsAndMessagesFlow) {
  chatd_process chatd({"--auth-jwt-key", path("secret")});
  EXPECT_TRUE(chatd.wait_for_log("authentication: JWT HS256 key from " + path("secret"), 5s)) << chatd.log_text();
  const auto alice = chatd_token({"--sub", "alice", "--name", "Alice"});
  const auto bob = chatd_token({"--sub", "bob"});
  ASSERT_EQ(std::count(alice.begin(), alice.end(), '.'), 2) << alice;

  ws_client in_query, in_header;
  in_query.connect(chatd.port(), "/rooms/lobby?token=" + alice + "&lang=en");
  in_header.set_header("Authorization", "Bearer " + bob);
  in_header.connect(chatd.port(), "/rooms/lobby");
  ASSERT_EQ(wait_for_metric(chatd.port(), "chat_connections", 2), 2.0);
  in_query.send_text("hello from alice");
  EXPECT_EQ(in_query.read(), text_message("hello from alice"));
  EXPECT_EQ(in_header.read(), text_message("hello from alice"));
  in_header.send_text("hi alice");
  EXPECT_EQ(in_query.read(), text_message("hi alice"));
  EXPECT_EQ(in_header.read(), text_message("hi alice"));
  EXPECT_EQ(refused(chatd.port(), "unauthorized", 0), 0.0);
  EXPECT_EQ(chatd.log_text().find(alice), std::string::npos) << chatd.log_text();
  EXPECT_EQ(chatd.log_text().find(bob), std::string::npos) << chatd.log_text();
}

TEST_F(Auth, EveryBadTokenGets401WithWwwAuthenticateBeforeTheUpgrade) {
  chatd_process chatd(
      {"--auth-jwt-key", path("secret"), "--auth-jwt-issuer", "https://auth.example", "--auth-jwt-audience", "chatd"});
  const json good{{"sub", "alice"}, {"iss", "https://auth.example"}, {"aud", "chatd"}, {"exp", now_plus(1h)}};
  auto with = [&](const std::string& claim, const json& value) {
    auto claims = good;
    if (value.is_null())
      claims.erase(claim);
    else
      claims[claim] = value;
    return claims;
  };
  const std::vector<std::pair<std::string, std::string>> bad{
      {"bad signature", make_token(good, JWT_ALG_HS256, secret + "-not-it")},
      {"wrong alg", make_token(good, JWT_ALG_HS512)},
      {"alg none", make_token(good, JWT_ALG_NONE)},
      {"expired", make_token(with("exp", now_plus(-60s)))},
      {"not yet valid", make_token(with("nbf", now_plus(1h)))},
      {"wrong issuer", make_token(with("iss", "https://evil.example"))},
      {"wrong audience", make_token(with("aud", json::array({"billing"})))},
      {"no sub", make_token(with("sub", nullptr))},
      {"rooms not an array", make_token(with("rooms", "lobby"))},
      {"garbage", "not-a-token"},
  };
  double expected = 0;
  for (const auto& [what, token] : bad) {
    SCOPED_TRACE(what);
    ws_client client;
    EXPECT_EQ(client.try_connect(chatd.port(), "/rooms/lobby?token=" + token), 401u);
    ws_client by_header;
    by_header.set_header("Authorization", "Bearer " + token);
    EXPECT_EQ(by_header.try_connect(chatd.port(), "/rooms/lobby"), 401u);
    expected += 2;
  }
  // No token at all; the answer names the scheme, and the error once a token was given.
  ws_client anonymous;
  EXPECT_EQ(anonymous.try_connect(chatd.port(), "/rooms/lobby"), 401u);
  auto reply = raw_exchange(chatd.port(), upgrade_request(chatd.port(), "/rooms/lobby"));
  EXPECT_EQ(reply.data.rfind("HTTP/1.1 401", 0), 0u) << reply.data;
  EXPECT_NE(reply.data.find("WWW-Authenticate: Bearer\r\n"), std::string::npos) << reply.data;
  reply = raw_exchange(chatd.port(), upgrade_request(chatd.port(), "/rooms/lobby?token=" + bad.front().second));
  EXPECT_EQ(reply.data.rfind("HTTP/1.1 401", 0), 0u) << reply.data;
  EXPECT_NE(reply.data.find("WWW-Authenticate: Bearer error=\"invalid_token\""), std::string::npos) << reply.data;
  expected += 3;

  EXPECT_EQ(refused(chatd.port(), "unauthorized", expected), expected);
  EXPECT_EQ(wait_for_metric(chatd.port(), "chat_connections_accepted_total", 0), 0.0);
  // The good token gets in; no token appears in the log, refused or not.
  ws_client welcome;
  EXPECT_EQ(welcome.try_connect(chatd.port(), "/rooms/lobby?token=" + make_token(good)), 101u);
  EXPECT_TRUE(chatd.wait_for_log("refused 127.0.0.1: bad token signature", 5s)) << chatd.log_text();
  const auto log = chatd.log_text();
  for (const auto& [what, token] : bad)
    EXPECT_EQ(log.find(token), std::string::npos) << what << ":\n" << log;
}

TEST_F(Auth, ARefusedTokenHoldsNoConnectionSlot) {
  chatd_process chatd({"--auth-jwt-key", path("secret"), "--max-connections", "1"});
  ws_client member, stranger;
  member.connect(chatd.port(), "/rooms/lobby?token=" + chatd_token({"--sub", "alice"}));
  // Full, but the token is checked first: 401, not 503.
  EXPECT_EQ(stranger.try_connect(chatd.port(), "/rooms/lobby"), 401u);
  EXPECT_EQ(refused(chatd.port(), "max_connections", 0), 0.0);
}

TEST_F(Auth, ARoomOutsideTheTokensRoomsGets403) {
  chatd_process chatd({"--auth-jwt-key", path("secret")});
  const auto token = chatd_token({"--sub", "carol", "--rooms", "lobby,team-*"});
  ws_client lobby, team, other, prefix_only;
  EXPECT_EQ(lobby.try_connect(chatd.port(), "/rooms/lobby?token=" + token), 101u);
  EXPECT_EQ(team.try_connect(chatd.port(), "/rooms/team-red?token=" + token), 101u);
  EXPECT_EQ(other.try_connect(chatd.port(), "/rooms/kitchen?token=" + token), 403u);
  EXPECT_EQ(prefix_only.try_connect(chatd.port(), "/rooms/team?token=" + token), 403u);
  EXPECT_EQ(refused(chatd.port(), "forbidden_room", 2), 2.0);
  EXPECT_EQ(refused(chatd.port(), "unauthorized", 0), 0.0);
  EXPECT_TRUE(chatd.wait_for_log("user carol may not join room kitchen", 5s)) << chatd.log_text();
  team.send_text("only the team room");
  EXPECT_EQ(team.read(), text_message("only the team room"));
}

TEST_F(Auth, AConnectionWhoseTokenExpiresIsClosedWith4001) {
  chatd_process chatd({"--auth-jwt-key", path("secret")});
  ws_client short_lived, long_lived;
  short_lived.connect(chatd.port(), "/rooms/lobby?token=" + chatd_token({"--sub", "dave", "--ttl", "3s"}));
  long_lived.connect(chatd.port(), "/rooms/lobby?token=" + chatd_token({"--sub", "erin"}));
  const close_result closed = short_lived.read_close_code();
  EXPECT_EQ(closed.code, 4001) << closed.error.message();
  EXPECT_EQ(wait_for_metric(chatd.port(), "chat_connections_closed_total{reason=\"token_expired\"}", 1), 1.0);
  // The other one stays, and the client comes back with a fresh token.
  ws_client again;
  again.connect(chatd.port(), "/rooms/lobby?token=" + chatd_token({"--sub", "dave"}));
  EXPECT_EQ(wait_for_metric(chatd.port(), "chat_connections", 2), 2.0);
  again.send_text("back");
  EXPECT_EQ(again.read(), text_message("back"));
  EXPECT_EQ(long_lived.read(), text_message("back"));
}

TEST_F(Auth, Rs256AndEs256PublicKeysCheckTheirOwnTokensOnly) {
  const json claims{{"sub", "frank"}, {"exp", now_plus(1h)}};
  for (const auto& [file, alg, keys] :
       {std::tuple{"rsa.pub", JWT_ALG_RS256, &rsa_}, std::tuple{"ec.pub", JWT_ALG_ES256, &ec_}}) {
    SCOPED_TRACE(file);
    chatd_process chatd({"--auth-jwt-key", path(file)});
    EXPECT_TRUE(chatd.wait_for_log(std::string{"authentication: JWT "} + jwt_alg_str(alg), 5s)) << chatd.log_text();
    ws_client good, confused, hs256;
    EXPECT_EQ(good.try_connect(chatd.port(), "/rooms/lobby?token=" + make_token(claims, alg, keys->private_pem)), 101u);
    // An HS256 token whose "secret" is the public key's PEM text.
    EXPECT_EQ(
        confused.try_connect(chatd.port(), "/rooms/lobby?token=" + make_token(claims, JWT_ALG_HS256, keys->public_pem)),
        401u);
    EXPECT_EQ(hs256.try_connect(chatd.port(), "/rooms/lobby?token=" + make_token(claims)), 401u);
    EXPECT_EQ(refused(chatd.port(), "unauthorized", 2), 2.0);
  }
}

TEST_F(Auth, WithoutAKeyEveryoneGetsInAndTheLogSaysSoOnce) {
  chatd_process chatd;
  ws_client anonymous;
  anonymous.connect(chatd.port(), "/rooms/lobby");
  ASSERT_TRUE(chatd.wait_for_log("authentication off", 5s)) << chatd.log_text();
  const auto log = chatd.log_text();
  EXPECT_EQ(log.find("authentication off"), log.rfind("authentication off")) << log;
}

TEST_F(Auth, BadKeyFilesStopTheStartWithAMessage) {
  const std::vector<std::pair<std::string, std::string>> cases{
      {path("missing"), "cannot read"},
      {path("empty"), "empty"},
      {path("ec.key"), "private key"},
  };
  for (const auto& [file, message] : cases) {
    SCOPED_TRACE(file);
    const chatd_exit run = chatd_process::run_to_exit({.args = {"--auth-jwt-key", file}}, exit_timeout);
    ASSERT_TRUE(run.status.has_value()) << run.output;
    EXPECT_NE(*run.status, 0) << run.output;
    EXPECT_LT(*run.status, 128) << run.output;
    EXPECT_NE(run.output.find(message), std::string::npos) << run.output;
    EXPECT_EQ(run.output.find("listening on"), std::string::npos) << run.output;
  }
  const chatd_exit issuer_alone = chatd_process::run_to_exit({.args = {"--auth-jwt-issuer", "x"}}, exit_timeout);
  EXPECT_NE(issuer_alone.status.value_or(0), 0) << issuer_alone.output;
}

TEST_F(Auth, TheTokenCommandMintsAVerifiableTokenAndStartsNoServer) {
  const chatd_exit run = chatd_process::run_to_exit(
      {.args = {"token", "--secret-file", path("secret"), "--sub", "gina", "--rooms", "a,b", "--ttl", "2m"},
       .listen_defaults = false},
      exit_timeout);
  ASSERT_EQ(run.status, 0) << run.output;
  EXPECT_EQ(run.output.find("listening"), std::string::npos) << run.output;
  jwt_t* raw = nullptr;
  auto token = run.output.substr(0, run.output.find('\n'));
  ASSERT_EQ(jwt_decode(&raw, token.c_str(), reinterpret_cast<const unsigned char*>(secret.data()),
                       static_cast<int>(secret.size())),
            0)
      << run.output;
  std::unique_ptr<jwt_t, void (*)(jwt_t*)> jwt{raw, jwt_free};
  EXPECT_STREQ(jwt_get_grant(jwt.get(), "sub"), "gina");
  const long iat = jwt_get_grant_int(jwt.get(), "iat"), exp = jwt_get_grant_int(jwt.get(), "exp");
  EXPECT_EQ(exp - iat, 120);
  char* rooms = jwt_get_grants_json(jwt.get(), "rooms");
  ASSERT_NE(rooms, nullptr);
  EXPECT_EQ(json::parse(rooms), json::array({"a", "b"}));
  std::free(rooms);

  for (const auto& args : std::vector<std::vector<std::string>>{
           {"token", "--secret-file", path("secret")},                              // no --sub
           {"token", "--secret-file", path("ec.pub"), "--sub", "x"},                // not a secret
           {"token", "--secret-file", path("secret"), "--sub", "x", "--ttl", "0s"}, // no time at all
       }) {
    const chatd_exit bad = chatd_process::run_to_exit({.args = args, .listen_defaults = false}, exit_timeout);
    EXPECT_NE(bad.status.value_or(0), 0) << bad.output;
    EXPECT_FALSE(bad.output.empty());
  }
}

} // namespace
} // namespace chatd::itest
