#pragma once

#include <string_view>

namespace chatd::web {

// The chat page served at "/", embedded into the binary at build time.
std::string_view index_html();

} // namespace chatd::web
