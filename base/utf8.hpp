// UTF-8 primitives shared by every library: validation and repair of stored text, decoding one code point, and
// encoding one. Decoding follows the Unicode well-formedness table (no overlongs, no surrogates, nothing above
// U+10FFFF); an ill-formed byte decodes as -1 and advances one byte.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace reval {

// Decodes the code point starting at s[i] into `cp` and returns its length in bytes; for an ill-formed sequence
// `cp` is -1 and the length is 1. Requires i < s.size().
std::size_t utf8_decode(std::string_view s, std::size_t i, std::int32_t& cp);
// Appends the UTF-8 encoding of `cp` (a Unicode scalar value) to `out`.
void utf8_append(std::string& out, char32_t cp);

bool is_valid_utf8(std::string_view s);
// Replaces each ill-formed byte with U+FFFD (for storing model output that was cut mid-character).
std::string sanitize_utf8(std::string_view s);

}  // namespace reval
