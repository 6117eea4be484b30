// Regex splitting for the Split / ByteLevel pre-tokenizers with RE2.
//
// HF `tokenizers` runs these patterns with Oniguruma, whose \s, \d, \w are Unicode-aware and which supports
// look-ahead. RE2 has neither, so:
//  * translate_regex() rewrites \s \S \d \D \w \W into explicit Unicode classes (inside and outside [...]).
//  * The look-ahead used by GPT-2/Qwen/Llama-3 patterns only ever appears as the last top-level alternatives
//    `\s+(?!\S)|\s+`. We strip that tail and run the remaining "head" anchored at each position; when the head does
//    not match and the position starts a whitespace run, the tail is emulated by hand exactly as a backtracking
//    engine would: `\s+(?!\S)` takes the whole run if it reaches the end of the text, otherwise the run minus its
//    last character (when that leaves at least one); failing that, `\s+` takes the single character.
//    Leftmost-first alternation means "head first, then tail" at a given position gives the same match as the
//    full pattern. Positions where nothing matches become gap pieces.
#include <re2/re2.h>

#include "model/tokenizer/internal.hpp"
#include "base/error.hpp"

namespace reval::tok {

namespace {

constexpr const char* kWhitespaceRanges =
    "\\x{9}-\\x{D}\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}";
constexpr const char* kWordRanges = "\\p{L}\\p{M}\\p{Nd}\\p{Pc}";

}  // namespace

std::string translate_regex(std::string_view p) {
  std::string out;
  out.reserve(p.size() * 2);
  bool in_class = false;
  std::size_t class_start = 0;  // index in p just after '[' or '[^'
  for (std::size_t i = 0; i < p.size(); ++i) {
    char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      char e = p[i + 1];
      ++i;
      if (in_class) {
        switch (e) {
          case 's': out += kWhitespaceRanges; continue;
          case 'd': out += "\\p{Nd}"; continue;
          case 'w': out += kWordRanges; continue;
          case 'S': case 'D': case 'W':
            throw Error(std::string("unsupported negated class \\") + e + " inside [...] in regex");
          default: break;
        }
      } else {
        switch (e) {
          case 's': out += "["; out += kWhitespaceRanges; out += "]"; continue;
          case 'S': out += "[^"; out += kWhitespaceRanges; out += "]"; continue;
          case 'd': out += "\\p{Nd}"; continue;
          case 'D': out += "\\P{Nd}"; continue;
          case 'w': out += "["; out += kWordRanges; out += "]"; continue;
          case 'W': out += "[^"; out += kWordRanges; out += "]"; continue;
          default: break;
        }
      }
      out += '\\';
      out += e;
      continue;
    }
    if (!in_class && c == '[') {
      in_class = true;
      out += c;
      if (i + 1 < p.size() && p[i + 1] == '^') {
        out += '^';
        ++i;
      }
      class_start = i + 1;
      continue;
    }
    if (in_class && c == ']' && i != class_start) {
      in_class = false;
    }
    out += c;
  }
  return out;
}

RegexSplitter::RegexSplitter(const std::string& pattern) {
  std::string head = pattern;
  auto ends_with = [&](std::string_view suffix) {
    return head.size() >= suffix.size() && head.compare(head.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  if (ends_with("\\s+(?!\\S)|\\s+")) {
    tail_lookahead_ = tail_plain_ = true;
    head.resize(head.size() - std::string_view("\\s+(?!\\S)|\\s+").size());
  } else if (ends_with("\\s+(?!\\S)")) {
    tail_lookahead_ = true;
    head.resize(head.size() - std::string_view("\\s+(?!\\S)").size());
  }
  if (tail_lookahead_) {
    if (head.empty()) {
      // the whole pattern was the tail
    } else if (head.back() == '|') {
      head.pop_back();
      // The tail must be a top-level alternative: the head must have balanced parentheses.
      int depth = 0;
      bool in_class = false;
      for (std::size_t i = 0; i < head.size(); ++i) {
        char c = head[i];
        if (c == '\\') {
          ++i;
          continue;
        }
        if (in_class) {
          if (c == ']') in_class = false;
          continue;
        }
        if (c == '[') in_class = true;
        else if (c == '(') ++depth;
        else if (c == ')') --depth;
      }
      if (depth != 0) throw Error("unsupported look-ahead (not a top-level alternative) in regex: " + pattern);
    } else {
      throw Error("unsupported look-ahead (not a top-level alternative) in regex: " + pattern);
    }
  }
  for (std::string_view la : {"(?=", "(?!", "(?<=", "(?<!"}) {
    if (head.find(la) != std::string::npos) throw Error("unsupported look-around in regex: " + pattern);
  }
  if (!head.empty()) {
    RE2::Options opts;
    opts.set_encoding(RE2::Options::EncodingUTF8);
    opts.set_log_errors(false);
    opts.set_max_mem(64 << 20);
    head_ = std::make_unique<re2::RE2>(translate_regex(head), opts);
    if (!head_->ok()) throw Error("invalid regex '" + pattern + "': " + head_->error());
  }
}

RegexSplitter::~RegexSplitter() = default;

void RegexSplitter::find_all(std::string_view s, std::vector<Piece>& out) const {
  const std::size_t n = s.size();
  std::size_t pos = 0;
  std::size_t gap_start = std::string_view::npos;
  auto flush_gap = [&](std::size_t end) {
    if (gap_start != std::string_view::npos && end > gap_start) out.push_back({s.substr(gap_start, end - gap_start), false});
    gap_start = std::string_view::npos;
  };
  while (pos < n) {
    std::size_t match_len = 0;
    if (head_) {
      re2::StringPiece m;
      if (head_->Match(re2::StringPiece(s.data(), n), pos, n, RE2::ANCHOR_START, &m, 1)) match_len = m.size();
    }
    if (match_len == 0 && tail_lookahead_) {
      std::int32_t cp;
      std::size_t len = utf8_decode(s, pos, cp);
      if (is_unicode_whitespace(cp)) {
        std::size_t e = pos + len, last_start = pos, count = 1;
        while (e < n) {
          std::size_t l = utf8_decode(s, e, cp);
          if (!is_unicode_whitespace(cp)) break;
          last_start = e;
          e += l;
          ++count;
        }
        if (e == n) match_len = e - pos;
        else if (count >= 2) match_len = last_start - pos;
        else if (tail_plain_) match_len = e - pos;
      }
    }
    if (match_len > 0) {
      flush_gap(pos);
      out.push_back({s.substr(pos, match_len), true});
      pos += match_len;
    } else {
      if (gap_start == std::string_view::npos) gap_start = pos;
      std::int32_t cp;
      pos += utf8_decode(s, pos, cp);
    }
  }
  flush_gap(n);
}

}  // namespace reval::tok
