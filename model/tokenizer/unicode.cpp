// Unicode normalization (utf8proc) and the GPT-2 byte-level alphabet used by byte-level BPE. Lossy UTF-8 decoding is
// base/utf8.hpp's sanitize_utf8 (Rust's String::from_utf8_lossy, which HF `tokenizers` uses for invalid bytes).
#include <cstdlib>

#include <utf8proc.h>

#include "model/tokenizer/internal.hpp"
#include "base/error.hpp"
#include "base/utf8.hpp"

namespace reval::tok {


bool is_unicode_whitespace(std::int32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
         cp == 0x3000;
}

bool is_word_char(std::int32_t cp) {
  if (cp < 0) return false;
  if (cp < 0x80) return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || cp == '_';
  switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT: case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_PC:
      return true;
    default:
      return false;
  }
}

std::string unicode_normalize(std::string_view s, std::string_view form) {
  bool ascii = true;
  for (char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii || s.empty()) return std::string(s);
  int flags = UTF8PROC_STABLE;
  if (form == "NFC") flags |= UTF8PROC_COMPOSE;
  else if (form == "NFD") flags |= UTF8PROC_DECOMPOSE;
  else if (form == "NFKC") flags |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT;
  else if (form == "NFKD") flags |= UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT;
  else throw Error("unknown normalization form " + std::string(form));
  utf8proc_uint8_t* dst = nullptr;
  utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(s.data()),
                                    static_cast<utf8proc_ssize_t>(s.size()), &dst,
                                    static_cast<utf8proc_option_t>(flags));
  if (n < 0) {
    std::free(dst);
    return std::string(s);  // input is sanitized UTF-8 before this; keep it unchanged on any utf8proc error
  }
  std::string out(reinterpret_cast<const char*>(dst), static_cast<std::size_t>(n));
  std::free(dst);
  return out;
}

std::string unicode_lowercase(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    std::int32_t cp;
    std::size_t n = utf8_decode(s, i, cp);
    if (cp < 0) out.append(s.substr(i, n));
    else utf8_append(out, utf8proc_tolower(cp));
    i += n;
  }
  return out;
}

const ByteLevelTable& ByteLevelTable::get() {
  static const ByteLevelTable table = [] {
    ByteLevelTable t;
    t.cp_to_byte.fill(-1);
    int extra = 0;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      std::int32_t cp = printable ? b : 256 + extra++;
      utf8_append(t.byte_to_utf8[b], cp);
      t.cp_to_byte[static_cast<std::size_t>(cp)] = static_cast<std::int16_t>(b);
    }
    return t;
  }();
  return table;
}

std::optional<std::string> ByteLevelTable::to_bytes(std::string_view token) const {
  std::string out;
  out.reserve(token.size());
  for (std::size_t i = 0; i < token.size();) {
    auto c = static_cast<unsigned char>(token[i]);
    std::int32_t cp;
    std::size_t n;
    if (c < 0x80) {
      cp = c;
      n = 1;
    } else {
      n = utf8_decode(token, i, cp);
    }
    if (cp < 0 || static_cast<std::size_t>(cp) >= cp_to_byte.size() || cp_to_byte[static_cast<std::size_t>(cp)] < 0)
      return std::nullopt;
    out += static_cast<char>(cp_to_byte[static_cast<std::size_t>(cp)]);
    i += n;
  }
  return out;
}

std::string ByteLevelTable::from_bytes(std::string_view bytes) const {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) out += byte_to_utf8[c];
  return out;
}

}  // namespace reval::tok
