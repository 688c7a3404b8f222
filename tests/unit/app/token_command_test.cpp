#include "app/token_command.hpp"

#include "net/auth.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

using namespace std::chrono_literals;
using chatd::app::mint_token;
using chatd::app::token_request;
namespace auth = chatd::net::auth;

namespace {

class token_command : public ::testing::Test {
protected:
  void SetUp() override {
    path_ = std::filesystem::temp_directory_path() / ("chatd-token-test-" + std::to_string(::getpid()));
    std::ofstream(path_) << secret_ << "\n";
  }
  void TearDown() override { std::filesystem::remove(path_); }

  const std::string secret_ = "token-command-test-secret-0123456789";
  std::filesystem::path path_;
};

} // namespace

TEST_F(token_command, mints_a_token_the_verifier_takes) {
  token_request request;
  request.secret_file = path_.string();
  request.sub = "alice";
  request.name = "Alice";
  request.rooms = {"lobby", "team-*"};
  request.ttl = 10min;
  request.issuer = "https://auth.example";
  request.audience = "chatd";
  std::ostringstream out, err;
  const auto now = std::chrono::system_clock::now();
  ASSERT_EQ(mint_token(request, out, err, now), 0) << err.str();
  auto token = out.str();
  ASSERT_FALSE(token.empty());
  EXPECT_EQ(token.back(), '\n');
  token.pop_back();

  const auth::token_verifier verifier(auth::parse_key(secret_),
                                      {.issuer = "https://auth.example", .audience = "chatd"});
  auto checked = verifier.verify(token, now);
  ASSERT_TRUE(checked) << checked.problem;
  EXPECT_EQ(checked.claims->who.user, "alice");
  EXPECT_EQ(checked.claims->who.name, "Alice");
  ASSERT_TRUE(checked.claims->rooms);
  EXPECT_EQ(*checked.claims->rooms, request.rooms);
  ASSERT_TRUE(checked.claims->who.expires);
  const auto ttl = *checked.claims->who.expires - now;
  EXPECT_GT(ttl, 9min);
  EXPECT_LE(ttl, 10min);
  EXPECT_FALSE(verifier.verify(token, now + 10min + 1s));
}

TEST_F(token_command, without_rooms_or_name_the_claims_are_left_out) {
  token_request request;
  request.secret_file = path_.string();
  request.sub = "bob";
  std::ostringstream out, err;
  ASSERT_EQ(mint_token(request, out, err), 0) << err.str();
  auto token = out.str();
  token.pop_back();
  auto checked = auth::token_verifier(auth::parse_key(secret_), {}).verify(token);
  ASSERT_TRUE(checked) << checked.problem;
  EXPECT_FALSE(checked.claims->rooms);
  EXPECT_TRUE(checked.claims->who.name.empty());
}

TEST_F(token_command, a_missing_secret_file_is_an_error) {
  token_request request;
  request.secret_file = "/nonexistent/secret";
  request.sub = "bob";
  std::ostringstream out, err;
  EXPECT_EQ(mint_token(request, out, err), 1);
  EXPECT_TRUE(out.str().empty());
  EXPECT_NE(err.str().find("/nonexistent/secret"), std::string::npos) << err.str();
}
