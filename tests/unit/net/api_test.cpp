#include "net/api.hpp"

#include <gtest/gtest.h>

namespace {

namespace net = chatd::net;
namespace http = boost::beast::http;

TEST(ApiKey, MatchesOnlyTheBearerKey) {
  EXPECT_TRUE(net::bearer_key_matches("Bearer s3cret", "s3cret"));
  EXPECT_TRUE(net::bearer_key_matches("bearer s3cret", "s3cret"));
  EXPECT_TRUE(net::bearer_key_matches("BEARER s3cret", "s3cret"));
  EXPECT_FALSE(net::bearer_key_matches("Bearer s3cre", "s3cret"));
  EXPECT_FALSE(net::bearer_key_matches("Bearer s3cret2", "s3cret"));
  EXPECT_FALSE(net::bearer_key_matches("Bearer S3cret", "s3cret"));
  EXPECT_FALSE(net::bearer_key_matches("Bearer  s3cret", "s3cret"));
  EXPECT_FALSE(net::bearer_key_matches("Basic s3cret", "s3cret"));
  EXPECT_FALSE(net::bearer_key_matches("s3cret", "s3cret"));
  EXPECT_FALSE(net::bearer_key_matches("", "s3cret"));
  EXPECT_FALSE(net::bearer_key_matches("Bearer ", "s3cret"));
}

TEST(ApiRoutes, EverythingUnderApiButInfo) {
  EXPECT_TRUE(net::is_api_target("/api/rooms/lobby/messages"));
  EXPECT_TRUE(net::is_api_target("/api/rooms"));
  EXPECT_TRUE(net::is_api_target("/api/"));
  EXPECT_TRUE(net::is_api_target("/api/info/more"));
  EXPECT_FALSE(net::is_api_target("/api/info"));
  EXPECT_FALSE(net::is_api_target("/api/info?x=1"));
  EXPECT_FALSE(net::is_api_target("/api"));
  EXPECT_FALSE(net::is_api_target("/rooms/api"));
}

TEST(ApiRoutes, OnlyPostsToTheApiCarryMessageSizedBodies) {
  http::request<http::string_body> req{http::verb::post, "/api/rooms/a/messages", 11};
  EXPECT_EQ(net::api_body_limit(req, 1000), 1001u);
  req.method(http::verb::get);
  EXPECT_EQ(net::api_body_limit(req, 1000), 0u);
  req.method(http::verb::post);
  req.target("/metrics");
  EXPECT_EQ(net::api_body_limit(req, 1000), 0u);
}

} // namespace
