#pragma once

#include <string>
#include <string_view>

namespace chatd::itest {

// An HS256 secret for --auth-jwt-key in tests (at least 32 bytes).
inline constexpr std::string_view test_jwt_secret = "chatd-integration-tests-hs256-secret-0123456789";

// A token for `sub` (with `name` unless empty) signed with test_jwt_secret,
// valid for an hour.
std::string make_test_token(std::string_view sub, std::string_view name = {});

} // namespace chatd::itest
