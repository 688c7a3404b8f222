#include "net/utf8.hpp"

namespace chatd::net {

bool valid_utf8(std::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* end = p + text.size();
  while (p < end) {
    const unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    std::size_t need = 0;
    unsigned char lo = 0x80, hi = 0xBF; // allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF)
      need = 1;
    else if (c == 0xE0)
      need = 2, lo = 0xA0; // no overlong 3-byte forms
    else if (c == 0xED)
      need = 2, hi = 0x9F; // no surrogates
    else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF)
      need = 2;
    else if (c == 0xF0)
      need = 3, lo = 0x90; // no overlong 4-byte forms
    else if (c >= 0xF1 && c <= 0xF3)
      need = 3;
    else if (c == 0xF4)
      need = 3, hi = 0x8F; // nothing above U+10FFFF
    else
      return false;
    if (static_cast<std::size_t>(end - p) <= need)
      return false;
    if (p[1] < lo || p[1] > hi)
      return false;
    for (std::size_t i = 2; i <= need; ++i)
      if ((p[i] & 0xC0) != 0x80)
        return false;
    p += need + 1;
  }
  return true;
}

} // namespace chatd::net
