// Answer extraction from a model completion (see math.hpp). Reasoning is cut at the last </think>. Then, in order:
//  1. the last balanced \boxed{}/\fbox{} -- with the boxes right before it when only connectors separate them
//     ("\boxed{1} and \boxed{2}", "\boxed{(2,2)} \quad \text{and} \quad \boxed{(6,2)}" are the list of both) -- or the
//     Minerva sentence "The final answer is X. I hope it is correct.", whichever comes later in the text;
//  2. the bare text when it is a short formula without prose words;
//  3. "final answer is X" / "answer is X" (also in a few other languages), then "Answer: X"; a phrase followed by
//     prose ("The largest $n$ is 34.") is reduced to what follows its last "is", else its last math span or number;
//  4. the last math span ($..$, $$..$$, \(..\), \[..\]; inline spans stay on one line) or the last number, whichever
//     ends later; spans joined by "and"/"or"/"," form one list ("$21,16$ or $11$"); a span that does not parse
//     gives way to the one before it that does; a number must not be glued to a word ("AZYUK2A" has none) and keeps
//     its percent sign ("28 %", "28 percent").
// Each step is switchable (MathOptions::use_*). Hand-written scanners only (no regex engine on the hot path).
#include <algorithm>
#include <cctype>
#include <cstring>

#include "graders/answer/latex.hpp"
#include "graders/answer/math.hpp"

namespace reval::answer {
namespace {

bool is_alpha(char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c; }  // ASCII only

// rfind of a substring that ends at or before `end`, jumping between occurrences of its first byte (memrchr):
// std::string_view::rfind compares at every position.
std::size_t rfind_fast(std::string_view hay, std::string_view needle, std::size_t end = std::string_view::npos) {
  if (needle.empty() || needle.size() > hay.size()) return std::string_view::npos;
  std::size_t limit = std::min(end == std::string_view::npos ? hay.size() : end, hay.size());
  if (limit < needle.size()) return std::string_view::npos;
  std::size_t n = limit - needle.size() + 1;  // candidate starts are [0, n)
  while (n > 0) {
    const void* p = memrchr(hay.data(), needle[0], n);
    if (!p) return std::string_view::npos;
    std::size_t i = static_cast<std::size_t>(static_cast<const char*>(p) - hay.data());
    if (hay.compare(i, needle.size(), needle) == 0) return i;
    n = i;
  }
  return std::string_view::npos;
}

// Case-insensitive rfind (ASCII letters; other bytes compare exactly). The needle is lower case.
std::size_t rfind_ci(std::string_view hay, std::string_view needle, std::size_t before = std::string_view::npos) {
  if (needle.empty() || needle.size() > hay.size()) return std::string_view::npos;
  std::size_t start = std::min(hay.size() - needle.size(), before == std::string_view::npos ? hay.size() : before);
  char first = needle[0];
  char first_up = first >= 'a' && first <= 'z' ? static_cast<char>(first - ('a' - 'A')) : first;
  for (std::size_t i = start + 1; i-- > 0;) {
    if (hay[i] != first && hay[i] != first_up) continue;
    bool ok = true;
    for (std::size_t k = 1; k < needle.size(); ++k) {
      if (lower(hay[i + k]) != needle[k]) {
        ok = false;
        break;
      }
    }
    if (ok) return i;
  }
  return std::string_view::npos;
}

// Content of a balanced group starting at s[i] == open; nullopt if unbalanced.
std::optional<std::string_view> balanced(std::string_view s, std::size_t i, char open, char close) {
  int depth = 0;
  for (std::size_t j = i; j < s.size(); ++j) {
    char c = s[j];
    if (c == '\\' && j + 1 < s.size() && (s[j + 1] == open || s[j + 1] == close)) { ++j; continue; }
    if (c == open) ++depth;
    else if (c == close && --depth == 0) return s.substr(i + 1, j - i - 1);
  }
  return std::nullopt;
}

const std::string_view kFunctionWords[] = {"sin", "cos", "tan", "sec", "csc", "cot", "log", "ln", "exp", "sqrt",
                                           "pi", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "inf",
                                           "infty", "infinity", "or", "and", "i", "e", "pct"};

// Formula-like: no word of 2+ letters outside commands except function names.
bool looks_bare(std::string_view s, std::size_t max_len = 400) {
  s = trim(s);
  if (s.empty() || s.size() > max_len) return false;
  for (std::size_t i = 0; i < s.size();) {
    if (s[i] == '\\') {
      ++i;
      if (s.compare(i, 4, "text") == 0 || s.compare(i, 6, "mathrm") == 0 || s.compare(i, 4, "mbox") == 0) {
        // \text{...}: allowed (units, "or"); skip the group
        while (i < s.size() && is_alpha(s[i])) ++i;
        if (i < s.size() && s[i] == '{') {
          auto g = balanced(s, i, '{', '}');
          if (!g) return false;
          i += g->size() + 2;
        }
        continue;
      }
      std::size_t name_start = i;
      while (i < s.size() && is_alpha(s[i])) ++i;
      std::string_view name = s.substr(name_start, i - name_start);
      if ((name == "begin" || name == "end") && i < s.size() && s[i] == '{') {
        auto g = balanced(s, i, '{', '}');
        if (!g) return false;
        i += g->size() + 2;
        if (name == "begin" && *g == "array" && i < s.size() && s[i] == '{') {  // the column spec {cc}
          auto spec = balanced(s, i, '{', '}');
          if (!spec) return false;
          i += spec->size() + 2;
        }
      }
      continue;
    }
    if (is_alpha(s[i])) {
      std::size_t j = i;
      while (j < s.size() && is_alpha(s[j])) ++j;
      std::string_view w = s.substr(i, j - i);
      bool upper_name = w.size() <= 5 && std::all_of(w.begin(), w.end(), [](char ch) { return ch >= 'A' && ch <= 'Z'; });
      bool differential = w.size() == 2 && w[0] == 'd';  // dx, dt
      if (w.size() >= 2 && !is_unit_word(w) && !upper_name && !differential) {
        std::string low(w);
        for (auto& c : low) c = lower(c);
        if (std::find(std::begin(kFunctionWords), std::end(kFunctionWords), low) == std::end(kFunctionWords))
          return false;
      }
      i = j;
      continue;
    }
    unsigned char u = static_cast<unsigned char>(s[i]);
    if (u >= 0xE3 && u <= 0xED) return false;  // CJK / Hangul: prose in another script
    ++i;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------------------------
// Boxes.

struct Box {
  std::size_t start = 0, end = 0;  // [start, end) of "\boxed{...}"
  std::string content;
  int count = 1;  // boxes joined into this answer
};

// The last balanced, non-empty box that ends at or before `limit`. At most 16 boxes are tried: each unbalanced one
// costs a scan to the end of the text, so an adversarial "\boxed{\boxed{..." must not become quadratic.
std::optional<Box> last_box_before(std::string_view text, std::size_t limit) {
  std::size_t pos = limit;
  for (int tries = 0; pos > 0 && tries < 16; ++tries) {
    std::size_t b = rfind_fast(text, "\\boxed", pos - 1 + 6);
    std::size_t f = rfind_fast(text, "\\fbox", pos - 1 + 5);
    std::size_t at;
    std::size_t len;
    if (b == std::string_view::npos && f == std::string_view::npos) return std::nullopt;
    if (f == std::string_view::npos || (b != std::string_view::npos && b > f)) { at = b; len = 6; }
    else { at = f; len = 5; }
    std::size_t i = at + len;
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
    if (i < text.size() && text[i] == '{') {
      auto g = balanced(text, i, '{', '}');
      if (g && !trim(*g).empty() && i + g->size() + 2 <= limit) {
        return Box{at, i + g->size() + 2, std::string(trim(*g)), 1};
      }
    } else if (i > at + len && i < text.size()) {
      // "\boxed 5": the next token
      std::size_t j = i;
      while (j < text.size() && !is_space(text[j]) && text[j] != '$' && text[j] != '}') ++j;
      std::string_view tok = text.substr(i, j - i);
      while (!tok.empty() && (tok.back() == '.' || tok.back() == ',')) tok.remove_suffix(1);
      if (!tok.empty() && j <= limit) return Box{at, j, std::string(tok), 1};
    }
    pos = at;  // unbalanced, empty or nested: try an earlier box
  }
  return std::nullopt;
}

// Do only connectors separate two boxes? Delimiters, \quad, punctuation and whitespace may stand between them, and
// at most five short words if one of them is "and"/"or" ("\text{ for part (a) and }", "papers and").
bool boxes_connected(std::string_view gap) {
  if (gap.size() > 120) return false;
  std::string words;
  int count = 0;
  bool connector = false, period = false, delimiter = false;
  for (std::size_t i = 0; i < gap.size();) {
    char c = gap[i];
    if (c == '$') delimiter = true;
    if (c == ',' || c == ';') connector = true;
    if (c == '\\') {
      std::size_t j = i + 1;
      while (j < gap.size() && is_alpha(gap[j])) ++j;
      std::string_view name = gap.substr(i + 1, j - i - 1);
      if (name.empty()) {  // \( \) \[ \] \, \\ ...
        if (j < gap.size() && (gap[j] == '(' || gap[j] == ')' || gap[j] == '[' || gap[j] == ']')) delimiter = true;
        i = j + 1;
        continue;
      }
      if (name == "quad" || name == "qquad" || name == "text" || name == "textbf" || name == "mathrm" ||
          name == "textrm" || name == "mbox" || name == "hspace" || name == "left" || name == "right") {
        i = j;
        continue;
      }
      return false;  // some other command: real content between the boxes
    }
    if (is_alpha(c) || is_digit(c)) {
      std::size_t j = i;
      while (j < gap.size() && (is_alpha(gap[j]) || is_digit(gap[j]))) ++j;
      std::string w(gap.substr(i, j - i));
      for (auto& ch : w) ch = lower(ch);
      if (w == "and" || w == "or") connector = true;
      ++count;
      i = j;
      continue;
    }
    if (c == '.') period = true;
    if (static_cast<unsigned char>(c) >= 0x80) return false;
    ++i;
  }
  // Boxes in one formula ("\boxed{1}\boxed{2}") belong together; across formulas only with a connector
  // ("$\boxed{20}$$ \boxed{143}" is a correction, "\(\boxed{1}\) and \(\boxed{2}\)" a list).
  if (count == 0) return !period && (connector || !delimiter);
  return connector && count <= 5;
}

// The last box and the boxes connected to it, as one answer ("1, 2" for "\boxed{1} and \boxed{2}").
std::optional<Box> last_box_group(std::string_view text) {
  auto last = last_box_before(text, text.size());
  if (!last) return std::nullopt;
  // The common case, one box: no previous box, or one that is not connected.
  {
    auto prev = last_box_before(text, last->start);
    if (!prev || prev->end > last->start || !boxes_connected(text.substr(prev->end, last->start - prev->end)))
      return last;
  }
  std::vector<Box> group{*last};
  while (group.size() < 64) {
    auto prev = last_box_before(text, group.back().start);
    if (!prev || prev->end > group.back().start) break;
    if (!boxes_connected(text.substr(prev->end, group.back().start - prev->end))) break;
    group.push_back(std::move(*prev));
  }
  if (group.size() == 1) return last;
  Box joined{group.back().start, group.front().end, {}, static_cast<int>(group.size())};
  for (std::size_t k = group.size(); k-- > 0;) {
    if (!joined.content.empty()) joined.content += ", ";
    joined.content += group[k].content;
  }
  return joined;
}

// ---------------------------------------------------------------------------------------------------------------
// Math spans.

struct Span {
  std::size_t start = 0, end = 0;  // of the whole span with delimiters
  std::string_view content;
};

// All $..$, $$..$$, \(..\), \[..\] spans in order. Inline spans ($, \() do not cross a line break; a '$' right
// after a digit or a backslash does not open one.
std::vector<Span> math_spans(std::string_view s) {
  std::vector<Span> out;
  for (std::size_t i = 0; i < s.size();) {
    if (s.compare(i, 2, "$$") == 0 && (i == 0 || s[i - 1] != '\\')) {
      std::size_t e = s.find("$$", i + 2);
      if (e == std::string_view::npos) break;
      out.push_back({i, e + 2, s.substr(i + 2, e - i - 2)});
      i = e + 2;
      continue;
    }
    if (s.compare(i, 2, "\\[") == 0) {
      std::size_t e = s.find("\\]", i + 2);
      if (e == std::string_view::npos) { i += 2; continue; }
      out.push_back({i, e + 2, s.substr(i + 2, e - i - 2)});
      i = e + 2;
      continue;
    }
    if (s.compare(i, 2, "\\(") == 0) {
      std::size_t e = s.find("\\)", i + 2);
      if (e == std::string_view::npos) { i += 2; continue; }
      std::string_view c = s.substr(i + 2, e - i - 2);
      if (c.find('\n') == std::string_view::npos) out.push_back({i, e + 2, c});
      i = e + 2;
      continue;
    }
    if (s[i] == '\\' && i + 1 < s.size()) { i += 2; continue; }  // \$ and other escapes
    if (s[i] == '$' && !(i > 0 && is_digit(s[i - 1]))) {
      std::size_t e = i + 1;
      while (e < s.size() && s[e] != '\n' && !(s[e] == '$' && s[e - 1] != '\\')) ++e;
      if (e < s.size() && s[e] == '$') {
        out.push_back({i, e + 1, s.substr(i + 1, e - i - 1)});
        i = e + 1;
        continue;
      }
    }
    ++i;
  }
  return out;
}

// Only a list connector between two spans: ",", "and", "or", ", and".
bool spans_connected(std::string_view gap) {
  gap = trim(gap);
  if (gap.empty() || gap == ",") return true;
  std::string w;
  for (char c : gap)
    if (!is_space(c) && c != ',') w += lower(c);
  return w == "and" || w == "or";
}

bool parses(std::string_view answer) { return parse_value(answer).kind != ValueKind::text; }

// The last span (joined with connected ones before it) that parses; the last one when none does. `end` receives
// the end position of the chosen span.
std::optional<std::string> last_math(std::string_view s, std::size_t* end) {
  auto spans = math_spans(s);
  // drop empty spans
  spans.erase(std::remove_if(spans.begin(), spans.end(), [](const Span& x) { return trim(x.content).empty(); }),
              spans.end());
  if (spans.empty()) return std::nullopt;
  std::optional<std::string> fallback;
  std::size_t fallback_end = 0;
  int tried = 0;
  for (std::size_t k = spans.size(); k-- > 0 && tried < 8; ++tried) {
    std::size_t first = k;
    while (first > 0 && k - first < 8 && spans_connected(s.substr(spans[first - 1].end, spans[first].start - spans[first - 1].end)))
      --first;
    std::string joined;
    for (std::size_t j = first; j <= k; ++j) {
      if (!joined.empty()) joined += ", ";
      joined += trim(spans[j].content);
    }
    if (!fallback) { fallback = joined; fallback_end = spans[k].end; }
    if (parses(joined)) {
      *end = spans[k].end;
      return joined;
    }
    // a joined group that does not parse: try its last span alone, then earlier spans
    if (first != k && parses(trim(spans[k].content))) {
      *end = spans[k].end;
      return std::string(trim(spans[k].content));
    }
    k = first;
  }
  *end = fallback_end;
  return fallback;
}

// ---------------------------------------------------------------------------------------------------------------
// Numbers.

// The last number that stands alone (start of text, space, '=', '$', '(', a currency sign... before it; no letter
// or '_' glued in front), with thousands groups, a decimal point or comma, a leading sign, a fraction "a/b", and a
// following percent sign or word. `end` receives its end position.
std::optional<std::string> last_number(std::string_view s, std::size_t* end) {
  std::size_t limit = s.size();
  for (int tries = 0; tries < 64; ++tries) {
    std::size_t i = limit;
    while (i > 0 && !is_digit(s[i - 1])) --i;
    if (i == 0) return std::nullopt;
    std::size_t stop = i;
    std::size_t start = i;
    while (start > 0) {
      char c = s[start - 1];
      if (is_digit(c)) { --start; continue; }
      if ((c == '.' || c == ',') && start >= 2 && is_digit(s[start - 2])) { --start; continue; }
      if (c == '!' && start >= 4 && s[start - 2] == '\\' && s[start - 3] == ',' && is_digit(s[start - 4])) {
        start -= 3;  // "1,\!000"
        continue;
      }
      if (c == ' ' && start >= 2 && is_digit(s[start - 2]) && stop - start >= 3 && is_digit(s[start]) &&
          start + 3 <= s.size() && (start + 3 == s.size() || !is_digit(s[start + 3]))) {
        // "1 000": a space between thousands groups
        std::size_t k = start - 1;
        std::size_t d = k;
        while (d > 0 && is_digit(s[d - 1])) --d;
        if (k - d >= 1 && k - d <= 3) { start = k; continue; }
      }
      break;
    }
    if (start < stop && s[start] == '.' ) ++start;
    if (start > 0 && s[start - 1] == '.' && (start < 2 || !is_digit(s[start - 2]))) --start;  // ".5"
    std::size_t sign = start;
    if (sign > 0 && s[sign - 1] == '-') --sign;
    // a fraction a/b
    if (start >= 2 && s[start - 1] == '/' && is_digit(s[start - 2])) {
      std::size_t k = start - 1;
      while (k > 0 && is_digit(s[k - 1])) --k;
      start = k;
      sign = start;
      if (sign > 0 && s[sign - 1] == '-') --sign;
    }
    char before = sign > 0 ? s[sign - 1] : ' ';
    bool anchored = !(is_alpha(before) || before == '_' || before == '^' || before == '\\' || is_digit(before));
    if (!anchored) {
      limit = sign;
      if (limit == 0) return std::nullopt;
      continue;
    }
    std::string num(s.substr(sign, stop - sign));
    while (!num.empty() && (num.back() == '.' || num.back() == ',')) num.pop_back();
    // a percent sign or word after it
    std::size_t k = stop;
    while (k < s.size() && s[k] == ' ') ++k;
    std::size_t e = stop;
    if (k < s.size() && (s[k] == '%' || s.compare(k, 2, "\\%") == 0)) {
      num += "\\%";
      e = k + (s[k] == '%' ? 1 : 2);
    } else {
      for (std::string_view w : {"percent", "pct"}) {
        if (rfind_ci(s.substr(k, w.size()), w) == 0) { num += "\\%"; e = k + w.size(); break; }
      }
    }
    *end = e;
    return num;
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------------------------
// Answer phrases.

// "The final answer is X. I hope it is correct." (Minerva's format): X and the position of the sentence.
std::optional<std::pair<std::string, std::size_t>> minerva_sentence(std::string_view text) {
  std::size_t hope = rfind_fast(text, "I hope");
  if (hope == std::string_view::npos) return std::nullopt;
  std::size_t from = hope > 400 ? hope - 400 : 0;
  std::size_t p = rfind_ci(text.substr(from, hope - from), "final answer is");
  if (p == std::string_view::npos) return std::nullopt;
  p += from;
  std::string_view x = trim(text.substr(p + 15, hope - p - 15));
  if (!x.empty() && x.front() == ':') x = trim(x.substr(1));
  while (!x.empty() && (x.back() == '.' || is_space(x.back()))) x.remove_suffix(1);
  // quoted: "X" or \"X\" (an escaped quote copied from a string literal)
  if (x.size() >= 4 && x.substr(0, 2) == "\\\"" && x.substr(x.size() - 2) == "\\\"") x = trim(x.substr(2, x.size() - 4));
  if (x.size() >= 2 && x.front() == '"' && x.back() == '"') x = trim(x.substr(1, x.size() - 2));
  if (x.empty()) return std::nullopt;
  // one math span "$...$" around the whole: its content
  auto spans = math_spans(x);
  if (spans.size() == 1 && spans[0].start == 0 && spans[0].end == x.size()) x = trim(spans[0].content);
  return std::make_pair(std::string(x), p);
}

// An answer phrase's tail reduced to the answer: "The largest $n$ is 34" -> "34"; "Jane started growing Sphere 3
// hours ago" -> "3". Formula-like tails stay as they are.
std::optional<std::string> reduce_tail(std::string_view t, int depth = 0) {
  t = trim(t);
  if (t.empty()) return std::nullopt;
  if (looks_bare(t) || depth > 2) return std::string(t);
  // after the last " is " / " are " / " equals "
  for (std::string_view w : {" is ", " are ", " equals ", " was ", " be "}) {
    std::size_t p = rfind_ci(t, w);
    if (p != std::string_view::npos) {
      std::string_view rest = trim(t.substr(p + w.size()));
      if (!rest.empty()) {
        auto spans = math_spans(rest);
        if (!spans.empty() && spans[0].start == 0) return std::string(trim(spans[0].content));
        return reduce_tail(rest, depth + 1);
      }
    }
  }
  std::size_t e1 = 0, e2 = 0;
  auto m = last_math(t, &e1);
  auto n = last_number(t, &e2);
  if (m && (!n || e1 >= e2)) return m;
  if (n) return n;
  return std::string(t);
}

// The answer phrase's tail: the first math span in it, else text up to the end of the sentence/line.
std::optional<std::string> phrase_tail(std::string_view rest) {
  std::size_t nl = rest.find('\n');
  // allow the answer on the next line when the phrase ends the line
  std::string_view line = trim(rest.substr(0, nl));
  if (line.empty() && nl != std::string_view::npos) {
    std::string_view after = rest.substr(nl + 1);
    line = trim(after.substr(0, after.find('\n')));
  }
  while (!line.empty() && (line.front() == ':' || line.front() == '*' || is_space(line.front()))) line.remove_prefix(1);
  while (!line.empty() && (line.back() == '*' || is_space(line.back()))) line.remove_suffix(1);
  if (line.empty()) return std::nullopt;
  if (auto b = last_box_group(line)) return b->content;
  // $...$ or \( \) or \[ \] right at the start
  auto spans = math_spans(line);
  if (!spans.empty() && spans[0].start == 0) {
    // "$21,16$ or $11$": connected spans
    std::string joined(trim(spans[0].content));
    for (std::size_t k = 1; k < spans.size() && spans_connected(line.substr(spans[k - 1].end, spans[k].start - spans[k - 1].end)); ++k)
      joined += ", " + std::string(trim(spans[k].content));
    return joined;
  }
  // Up to a sentence end ". " (not a decimal point).
  for (std::size_t i = 0; i + 1 < line.size(); ++i) {
    if (line[i] == '.' && is_space(line[i + 1])) { line = line.substr(0, i); break; }
  }
  line = trim(line);
  while (!line.empty() && (line.back() == '.' || line.back() == ',')) line.remove_suffix(1);
  if (line.size() >= 2 && (line.front() == '"' || line.front() == '\'') && line.back() == line.front())
    line = trim(line.substr(1, line.size() - 2));
  if (line.empty()) return std::nullopt;
  return reduce_tail(line);
}

}  // namespace

std::optional<std::string> last_boxed(std::string_view text) {
  auto b = last_box_before(text, text.size());
  if (!b) return std::nullopt;
  return std::move(b->content);
}

Extraction extract_from_text(std::string_view text, const MathOptions& options) {
  Extraction ex;
  text = trim(text);
  if (text.empty()) {
    ex.reason = "empty";
    return ex;
  }
  // R1-style "<answer>...</answer>": the last tagged answer is the text to extract from.
  if (std::size_t close = rfind_fast(text, "</answer>"); close != std::string_view::npos) {
    std::size_t open = rfind_fast(text, "<answer>", close);
    if (open != std::string_view::npos && !trim(text.substr(open + 8, close - open - 8)).empty()) {
      Extraction inner = extract_from_text(text.substr(open + 8, close - open - 8), options);
      if (inner.answer) return inner;
    }
  }
  auto box = last_box_group(text);
  if (options.use_final_answer) {
    if (auto m = minerva_sentence(text); m && (!box || m->second > box->end)) {
      ex.answer = std::move(m->first);
      ex.method = "final_answer";
      return ex;
    }
  }
  if (box) {
    ex.method = box->count > 1 ? "boxes" : "boxed";
    ex.answer = std::move(box->content);
    return ex;
  }
  // A response holding a broken box is not a bare answer (the box content would be mis-read).
  bool has_box = text.find("\\boxed") != std::string_view::npos || text.find("\\fbox") != std::string_view::npos;
  if (options.use_bare && !has_box && looks_bare(text)) {
    ex.answer = std::string(text);
    ex.method = "bare";
    return ex;
  }
  if (options.use_final_answer) {
    // The latest occurrence of any of the phrases wins ("... the answer is 8. Actually, the final answer is 9").
    static const std::string_view kPhrases[] = {
        "final answer is", "final answer:", "answer is", "answer would be", "final result is",
        "\xE7\xAD\x94\xE6\xA1\x88\xE6\x98\xAF",                      // 答案是
        "\xE7\xAD\x94\xE6\xA1\x88\xE4\xB8\xBA",                      // 答案为
        "\xE7\xAD\x94\xE6\xA1\x88\xEF\xBC\x9A",                      // 答案：
        "la r\xC3\xA9ponse est", "la respuesta es", "die antwort ist", "a resposta \xC3\xA9"};
    std::size_t best = std::string_view::npos, best_len = 0;
    for (std::string_view phrase : kPhrases) {
      std::size_t p = rfind_ci(text, phrase);
      if (p == std::string_view::npos) continue;
      std::size_t end = p + phrase.size();
      if (best == std::string_view::npos || end > best + best_len) { best = p; best_len = phrase.size(); }
    }
    if (best != std::string_view::npos) {
      if (auto t = phrase_tail(text.substr(best + best_len))) {
        ex.answer = std::move(*t);
        ex.method = "final_answer";
        return ex;
      }
    }
  }
  if (options.use_answer_colon) {
    std::size_t p = rfind_ci(text, "answer:");
    std::size_t skip = 7;
    if (std::size_t q = rfind_ci(text, "answer**:"); q != std::string_view::npos && (p == std::string_view::npos || q > p)) {
      p = q;
      skip = 9;
    }
    if (p != std::string_view::npos) {
      if (auto t = phrase_tail(text.substr(p + skip))) {
        ex.answer = std::move(*t);
        ex.method = "answer_colon";
        return ex;
      }
    }
  }
  std::size_t math_end = 0, number_end = 0;
  std::optional<std::string> math, number;
  if (options.use_last_math) math = last_math(text, &math_end);
  if (options.use_last_number) number = last_number(text, &number_end);
  if (math && (!number || math_end >= number_end)) {
    ex.answer = std::move(*math);
    ex.method = "last_math";
    return ex;
  }
  if (number) {
    ex.answer = std::move(*number);
    ex.method = "last_number";
    return ex;
  }
  ex.reason = "no_answer_found";
  return ex;
}

std::string gold_answer(std::string_view gold, const MathOptions& options) {
  // The common case, a plain number ("42", "-3/4", "1,000"): as it is.
  if (gold.size() <= 64 && std::all_of(gold.begin(), gold.end(), [](char c) {
        return is_digit(c) || c == '-' || c == '.' || c == ',' || c == '/' || c == ' ';
      }))
    return std::string(gold);
  bool has_box = gold.find("\\boxed") != std::string_view::npos || gold.find("\\fbox") != std::string_view::npos;
  if (!options.extract_gold) {
    if (auto b = last_boxed(gold)) return *b;
    return std::string(gold);
  }
  if (!has_box && looks_bare(gold, gold.size())) return std::string(trim(gold));
  MathOptions o = options;
  o.use_bare = o.use_final_answer = o.use_answer_colon = o.use_last_math = o.use_last_number = true;
  Extraction ex = extract_from_text(gold, o);
  if (ex.answer) return std::move(*ex.answer);
  return std::string(gold);
}

Extraction extract_answer(std::string_view response, const MathOptions& options, std::string_view finish_reason) {
  Extraction ex;
  std::string reason;
  auto body = strip_reasoning(response, finish_reason_from_string(finish_reason), &reason);
  if (!body) {
    ex.reason = reason;
    return ex;
  }
  return extract_from_text(*body, options);
}

}  // namespace reval::answer
