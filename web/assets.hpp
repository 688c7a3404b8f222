#pragma once

#include <optional>
#include <string_view>

namespace chatd::web {

// A file of the browser chat page, embedded into the binary at build time.
struct asset {
  std::string_view content_type;
  std::string_view body;
};

// The asset served at `path` ("/" is the page itself), if there is one.
std::optional<asset> find_asset(std::string_view path);

} // namespace chatd::web
