#pragma once

#include <string_view>

namespace chatd::net {

// True when `text` is well-formed UTF-8 (RFC 3629: no overlong forms, no
// surrogates, nothing above U+10FFFF, no sequence cut short).
//
// Beast checks text messages as it reads their payload, but Boost 1.74 skips
// the end-of-message check when the last frame of a fragmented message is
// empty, so a message ending inside a character got through, and conforming
// clients that received it failed their connection with 1007 (found by
// tests/fuzz). Sessions check every text message again before publishing.
bool valid_utf8(std::string_view text);

} // namespace chatd::net
