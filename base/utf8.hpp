// UTF-8 primitives shared by every library: validation and repair of stored text, decoding one code point, and
// encoding one. Decoding follows the Unicode well-formedness table (no overlongs, no surrogates, nothing above
// U+10FFFF). One policy for ill-formed input everywhere: a maximal invalid subpart (the longest prefix of a
// well-formed sequence, at least one byte) decodes as -1 and is replaced by one U+FFFD.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace reval {

// Decodes the code point starting at s[i] into `cp` and returns its length in bytes; for an ill-formed sequence
// `cp` is -1 and the length is that of the maximal invalid subpart (>= 1). Requires i < s.size().
std::size_t utf8_decode(std::string_view s, std::size_t i, std::int32_t& cp);
// Appends the UTF-8 encoding of `cp` (a Unicode scalar value) to `out`.
void utf8_append(std::string& out, char32_t cp);

bool is_valid_utf8(std::string_view s);
// The one lossy decoding policy (stored model output cut mid-character, detokenized bytes, sandbox output): each
// maximal invalid subpart becomes one U+FFFD, as in Rust's String::from_utf8_lossy, Python's
// bytes.decode(errors="replace") and HF `tokenizers` (Unicode's recommended substitution practice).
std::string sanitize_utf8(std::string_view s);

}  // namespace reval
