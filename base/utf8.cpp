// See utf8.hpp.
#include "base/utf8.hpp"

namespace reval {

std::size_t utf8_decode(std::string_view s, std::size_t i, std::int32_t& cp) {
  auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = b(i);
  if (c < 0x80) {
    cp = c;
    return 1;
  }
  std::size_t n;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    cp = -1;
    return 1;
  }
  if (i + n > s.size()) {
    cp = -1;
    return 1;
  }
  if (b(i + 1) < lo || b(i + 1) > hi) {
    cp = -1;
    return 1;
  }
  std::int32_t v = c & (0xFF >> (n + 1));
  for (std::size_t k = 1; k < n; ++k) {
    if (k > 1 && (b(i + k) < 0x80 || b(i + k) > 0xBF)) {
      cp = -1;
      return 1;
    }
    v = (v << 6) | (b(i + k) & 0x3F);
  }
  cp = v;
  return n;
}

void utf8_append(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

bool is_valid_utf8(std::string_view s) {
  std::int32_t cp;
  for (std::size_t i = 0; i < s.size();) {
    i += utf8_decode(s, i, cp);
    if (cp < 0) return false;
  }
  return true;
}

std::string sanitize_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  std::int32_t cp;
  for (std::size_t i = 0; i < s.size();) {
    std::size_t n = utf8_decode(s, i, cp);
    if (cp < 0) out += "\xEF\xBF\xBD";
    else out.append(s.substr(i, n));
    i += n;
  }
  return out;
}

}  // namespace reval
