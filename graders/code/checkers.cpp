// Code extraction and output checkers for the code grader.
//
// Theory of operation
//  extract_code: reasoning ends at the LAST </think> (text before it is never code); a <think> without a close, or
//  an output cut off before any </think>, has no answer (strip_reasoning, base/reasoning.hpp). Fences are ``` (or longer) lines with an optional tag; the last block whose tag names the wanted
//  language wins, else the last block; an unterminated final fence runs to the end of the text; with no fence at
//  all the bare text is the code (leading indentation kept: HumanEval completions are indented bodies).
//  Checkers: exact = same lines after trailing whitespace and trailing blank lines are dropped; tokens = same
//  whitespace-separated tokens, where two numeric tokens also match when equal as decimals (so "1.0" matches "1",
//  as LiveCodeBench accepts); float = tokens, numbers within abs or rel tolerance (testlib's doubleCompare);
//  lcb = LiveCodeBench's rule: strip the texts, split at '\n', strip each line, same line count, each line equal
//  or all its tokens equal as Decimals.
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <vector>

#include <fmt/format.h>

#include "graders/code/code_grader.hpp"

namespace reval::code {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

std::string_view strip(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> split_tokens(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && is_space(s[i])) ++i;
    size_t j = i;
    while (j < s.size() && !is_space(s[j])) ++j;
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

std::vector<std::string_view> split_lines(std::string_view s) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (;;) {
    size_t nl = s.find('\n', start);
    if (nl == std::string_view::npos) {
      out.push_back(s.substr(start));
      break;
    }
    out.push_back(s.substr(start, nl - start));
    start = nl + 1;
  }
  return out;
}

std::string shorten(std::string_view s) {
  if (s.size() <= 60) return std::string(s);
  return std::string(s.substr(0, 57)) + "...";
}

// A decimal number: sign, digits, exponent, normalized so equal values compare equal. Accepts what Python's
// Decimal accepts for finite numbers (underscores between digits included) and inf/infinity.
struct Dec {
  bool neg = false;
  bool inf = false;
  std::string digits;  // no leading/trailing zeros; empty = zero
  long long exp = 0;   // value = digits * 10^exp
};

std::optional<Dec> parse_decimal(std::string_view s) {
  Dec d;
  size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) d.neg = s[i++] == '-';
  std::string rest;
  for (size_t k = i; k < s.size(); ++k) rest += static_cast<char>(std::tolower(static_cast<unsigned char>(s[k])));
  if (rest == "inf" || rest == "infinity") {
    d.inf = true;
    return d;
  }
  std::string mant;
  long long frac_digits = 0;
  bool seen_dot = false, any_digit = false;
  char prev = 0;
  for (; i < s.size(); ++i) {
    char c = s[i];
    if (std::isdigit(static_cast<unsigned char>(c))) {
      mant += c;
      any_digit = true;
      if (seen_dot) ++frac_digits;
    } else if (c == '_' && std::isdigit(static_cast<unsigned char>(prev)) && i + 1 < s.size() &&
               std::isdigit(static_cast<unsigned char>(s[i + 1]))) {
      // digit separator
    } else if (c == '.' && !seen_dot) {
      seen_dot = true;
    } else {
      break;
    }
    prev = c;
  }
  if (!any_digit) return std::nullopt;
  long long e = 0;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    bool eneg = false;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) eneg = s[i++] == '-';
    if (i >= s.size()) return std::nullopt;
    for (; i < s.size(); ++i) {
      if (!std::isdigit(static_cast<unsigned char>(s[i]))) return std::nullopt;
      if (e < 1000000000) e = e * 10 + (s[i] - '0');
    }
    if (eneg) e = -e;
  }
  if (i != s.size()) return std::nullopt;
  size_t nz = mant.find_first_not_of('0');
  if (nz == std::string::npos) return d;  // zero (sign irrelevant: Decimal('-0') == Decimal('0'))
  mant = mant.substr(nz);
  long long exp = e - frac_digits;
  while (!mant.empty() && mant.back() == '0') {
    mant.pop_back();
    ++exp;
  }
  d.digits = mant;
  d.exp = exp;
  return d;
}

std::optional<double> parse_double(std::string_view s) {
  if (s.empty() || s.size() > 400) return std::nullopt;
  std::string str(s);
  char* end = nullptr;
  double v = std::strtod(str.c_str(), &end);
  if (end != str.c_str() + str.size()) return std::nullopt;
  // strtod also takes hex and "nan"; only plain decimal notation counts as a number here.
  for (char c : str)
    if (!(std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E'))
      return std::nullopt;
  return v;
}

bool tokens_match(std::string_view a, std::string_view b) { return a == b || decimal_equal(a, b); }

}  // namespace

bool decimal_equal(std::string_view a, std::string_view b) {
  auto x = parse_decimal(a), y = parse_decimal(b);
  if (!x || !y) return false;
  if (x->inf || y->inf) return x->inf == y->inf && x->neg == y->neg;
  if (x->digits.empty() || y->digits.empty()) return x->digits.empty() && y->digits.empty();
  return x->neg == y->neg && x->digits == y->digits && x->exp == y->exp;
}

std::optional<ExtractedCode> extract_code(std::string_view response, std::string_view language, std::string* why,
                                         FinishReason finish) {
  auto fail = [&](const char* reason) -> std::optional<ExtractedCode> {
    if (why) *why = reason;
    return std::nullopt;
  };
  std::string reasoning_why;
  std::optional<std::string_view> answer = strip_reasoning(response, finish, &reasoning_why);
  if (!answer) {
    if (why) *why = reasoning_why;
    return std::nullopt;
  }
  std::string_view text = *answer;

  struct Block {
    std::string tag;
    std::string_view body;
    bool terminated;
  };
  std::vector<Block> blocks;
  size_t pos = 0;
  // Walk the lines; a fence line starts with >= 3 backticks (after up to 3 spaces of indentation).
  auto fence_at = [&](size_t line_start, size_t line_end, size_t* ticks_out, std::string* tag) {
    size_t i = line_start;
    while (i < line_end && i - line_start < 3 && text[i] == ' ') ++i;
    size_t t = i;
    while (t < line_end && text[t] == '`') ++t;
    if (t - i < 3) return false;
    *ticks_out = t - i;
    std::string_view rest = strip(text.substr(t, line_end - t));
    if (rest.find('`') != std::string_view::npos) return false;
    tag->clear();
    for (char c : rest) {
      if (is_space(c) || c == '{') break;
      tag->push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
    return true;
  };
  while (pos < text.size()) {
    size_t line_end = text.find('\n', pos);
    if (line_end == std::string_view::npos) line_end = text.size();
    size_t ticks = 0;
    std::string tag;
    if (fence_at(pos, line_end, &ticks, &tag)) {
      size_t body_start = std::min(line_end + 1, text.size());
      size_t p = body_start;
      bool closed = false;
      while (p < text.size()) {
        size_t le = text.find('\n', p);
        if (le == std::string_view::npos) le = text.size();
        size_t t2 = 0;
        std::string tag2;
        if (fence_at(p, le, &t2, &tag2) && tag2.empty() && t2 >= ticks) {
          blocks.push_back({tag, text.substr(body_start, p - body_start), true});
          closed = true;
          pos = std::min(le + 1, text.size());
          break;
        }
        p = le + 1;
      }
      if (!closed) {
        blocks.push_back({tag, text.substr(body_start), false});
        pos = text.size();
      }
      continue;
    }
    pos = line_end + 1;
  }
  ExtractedCode out;
  out.fence_count = static_cast<int>(blocks.size());
  if (!blocks.empty()) {
    const Block* pick = &blocks.back();
    if (!language.empty()) {
      auto langs = sandbox::default_languages();
      const sandbox::Language* want = sandbox::find_language(langs, language);
      for (auto it = blocks.rbegin(); it != blocks.rend(); ++it) {
        const sandbox::Language* l = it->tag.empty() ? nullptr : sandbox::find_language(langs, it->tag);
        if (want && l == want) {
          pick = &*it;
          break;
        }
      }
    }
    out.code = std::string(pick->body);
    out.language_tag = pick->tag;
    out.source = pick->terminated ? "fence" : "fence_unterminated";
  } else {
    // Bare code: drop leading blank lines but keep the first line's indentation.
    std::string_view t = text;
    while (!t.empty()) {
      size_t nl = t.find('\n');
      std::string_view line = t.substr(0, nl == std::string_view::npos ? t.size() : nl);
      if (!strip(line).empty() || nl == std::string_view::npos) break;
      t.remove_prefix(nl + 1);
    }
    out.code = std::string(t);
    out.source = "bare";
  }
  if (strip(out.code).empty()) return fail(blocks.empty() ? "no_code" : "empty_code_block");
  return out;
}

bool check_exact(std::string_view output, std::string_view answer, std::string* message) {
  auto norm = [](std::string_view s) {
    std::vector<std::string_view> lines = split_lines(s);
    for (auto& l : lines) {
      while (!l.empty() && is_space(l.back())) l.remove_suffix(1);
    }
    while (!lines.empty() && lines.back().empty()) lines.pop_back();
    return lines;
  };
  auto a = norm(output), b = norm(answer);
  for (size_t i = 0; i < std::max(a.size(), b.size()); ++i) {
    std::string_view x = i < a.size() ? a[i] : std::string_view("<EOF>");
    std::string_view y = i < b.size() ? b[i] : std::string_view("<EOF>");
    if (i >= a.size() || i >= b.size() || x != y) {
      if (message) *message = fmt::format("line {}: got '{}', expected '{}'", i + 1, shorten(x), shorten(y));
      return false;
    }
  }
  return true;
}

bool check_tokens(std::string_view output, std::string_view answer, std::string* message) {
  auto a = split_tokens(output), b = split_tokens(answer);
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i)
    if (!tokens_match(a[i], b[i])) {
      if (message) *message = fmt::format("token {}: got '{}', expected '{}'", i + 1, shorten(a[i]), shorten(b[i]));
      return false;
    }
  if (a.size() != b.size()) {
    if (message) *message = fmt::format("got {} tokens, expected {}", a.size(), b.size());
    return false;
  }
  return true;
}

bool check_float(std::string_view output, std::string_view answer, double abs_tol, double rel_tol,
                 std::string* message) {
  auto a = split_tokens(output), b = split_tokens(answer);
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    if (a[i] == b[i]) continue;
    auto x = parse_double(a[i]), y = parse_double(b[i]);
    bool ok = false;
    if (x && y) {
      double diff = std::fabs(*x - *y);
      ok = std::isfinite(*x) && (diff <= abs_tol + 1e-15 || diff <= rel_tol * std::fabs(*y) + 1e-15);
    }
    if (!ok) {
      if (message) *message = fmt::format("token {}: got '{}', expected '{}'", i + 1, shorten(a[i]), shorten(b[i]));
      return false;
    }
  }
  if (a.size() != b.size()) {
    if (message) *message = fmt::format("got {} tokens, expected {}", a.size(), b.size());
    return false;
  }
  return true;
}

bool check_lcb(std::string_view output, std::string_view answer, std::string* message) {
  auto a = split_lines(strip(output)), b = split_lines(strip(answer));
  if (a.size() != b.size()) {
    if (message) *message = fmt::format("got {} lines, expected {}", a.size(), b.size());
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    std::string_view x = strip(a[i]), y = strip(b[i]);
    if (x == y) continue;
    auto tx = split_tokens(x), ty = split_tokens(y);
    bool ok = tx.size() == ty.size() && !tx.empty();
    for (size_t k = 0; ok && k < tx.size(); ++k) ok = decimal_equal(tx[k], ty[k]);
    if (!ok) {
      if (message) *message = fmt::format("line {}: got '{}', expected '{}'", i + 1, shorten(x), shorten(y));
      return false;
    }
  }
  return true;
}

}  // namespace reval::code
