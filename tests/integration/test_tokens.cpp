#include "test_tokens.hpp"

#include "../test_jwt.hpp"

#include <ctime>

namespace chatd::itest {

std::string make_test_token(std::string_view sub, std::string_view name) {
  nlohmann::json claims{{"sub", sub}, {"exp", static_cast<long>(std::time(nullptr)) + 3600}};
  if (!name.empty())
    claims["name"] = name;
  return test_jwt::make_token(claims, JWT_ALG_HS256, test_jwt_secret);
}

} // namespace chatd::itest
