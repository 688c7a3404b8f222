#pragma once

#include "ws_client.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

namespace chatd::itest {

// Client i (a member of one room on node i + 1) sends "hi from n<i + 1>",
// all at once; then every client must read each of those messages, in any
// order. `context` names the case in a failure.
inline void expect_everyone_gets_every_hello(std::vector<std::unique_ptr<ws_client>>& clients,
                                             const std::string& context = "") {
  std::vector<std::string> sent;
  for (std::size_t i = 0; i < clients.size(); ++i) {
    sent.push_back("hi from n" + std::to_string(i + 1));
    clients[i]->send_text(sent.back());
  }
  for (std::size_t i = 0; i < clients.size(); ++i) {
    std::vector<std::string> got;
    for (std::size_t k = 0; k < clients.size(); ++k)
      got.push_back(clients[i]->read().data);
    std::sort(got.begin(), got.end());
    EXPECT_EQ(got, sent) << "client of n" << i + 1 << context;
  }
}

} // namespace chatd::itest
