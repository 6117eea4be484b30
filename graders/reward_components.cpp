// The reward components besides accuracy (see rewards.hpp): the format check (reasoning closed, answer marked),
// the language-consistency share (scripts of the reasoning's words, from a code-point range table plus utf8proc's
// general categories) and DAPO's overlong length penalty. Pure functions of the text.
#include <algorithm>
#include <array>
#include <map>

#include <fmt/format.h>
#include <utf8proc.h>

#include "base/error.hpp"
#include "base/reasoning.hpp"
#include "base/utf8.hpp"
#include "graders/answer/math.hpp"
#include "graders/rewards.hpp"

namespace reval::rewards {

namespace {

constexpr std::string_view kOpen = "<think>";
constexpr std::string_view kClose = "</think>";

std::size_t count_of(std::string_view s, std::string_view what) {
  std::size_t n = 0;
  for (std::size_t p = s.find(what); p != std::string_view::npos; p = s.find(what, p + what.size())) ++n;
  return n;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

bool ieq_prefix(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    char a = s[i], b = prefix[i];
    if (a >= 'A' && a <= 'Z') a = static_cast<char>(a - 'A' + 'a');
    if (a != b) return false;
  }
  return true;
}

// A line "Answer: X" (also "**Answer:** X", "# Answer: X", a full-width colon) with something after the colon.
bool has_answer_line(std::string_view text) {
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
    auto skip = [&](std::string_view chars) {
      while (!line.empty() && chars.find(line.front()) != std::string_view::npos) line.remove_prefix(1);
    };
    skip(" \t*#>_");
    if (!ieq_prefix(line, "answer")) continue;
    line.remove_prefix(6);
    skip(" \t*_");
    if (line.substr(0, 1) == ":") line.remove_prefix(1);
    else if (line.substr(0, 3) == "\xEF\xBC\x9A") line.remove_prefix(3);  // U+FF1A FULLWIDTH COLON
    else continue;
    skip(" \t*_$");
    if (!trim(line).empty()) return true;
  }
  return false;
}

bool has_fenced_block(std::string_view text) {
  std::size_t open = text.find("```");
  if (open == std::string_view::npos) return false;
  std::size_t body = text.find('\n', open);
  if (body == std::string_view::npos) return false;
  std::size_t close = text.find("```", body);
  return close != std::string_view::npos && !trim(text.substr(body, close - body)).empty();
}

}  // namespace

FormatCheck check_format(std::string_view response, std::string_view grader, std::string_view prompt,
                         FinishReason finish) {
  FormatCheck f;
  const std::size_t closes = count_of(response, kClose);
  const std::size_t opens = count_of(response, kOpen);
  const std::size_t close = response.rfind(kClose);
  const std::size_t open = response.find(kOpen);
  const bool prompt_known = !prompt.empty();
  std::string_view p = trim(prompt);
  const bool prefilled = p.size() >= kOpen.size() && p.substr(p.size() - kOpen.size()) == kOpen;
  if (closes == 0) f.reason = opens ? "the reasoning is never closed by </think>" : "no </think>";
  else if (closes > 1) f.reason = "more than one </think>";
  else if (opens > 1) f.reason = "more than one <think>";
  else if (open != std::string_view::npos && open > close) f.reason = "<think> after </think>";
  else if (opens == 1 && !trim(response.substr(0, open)).empty()) f.reason = "text before <think>";
  else if (prompt_known && prefilled && opens == 1) f.reason = "<think> opened again after the prompt's prefill";
  else if (prompt_known && !prefilled && opens == 0) f.reason = "</think> without <think>";
  else f.think_closed = true;

  // The answer is where every grader looks for it (base/reasoning.hpp): after the last </think>; with none, nowhere
  // when a <think> is open or the output was cut off, else the whole completion.
  const std::string_view answer = strip_reasoning(response, finish).value_or(std::string_view{});
  if (grader == "code") {
    f.answer_marked = has_fenced_block(answer);
  } else {
    auto box = answer::last_boxed(answer);
    f.answer_marked = (box && !trim(*box).empty()) || has_answer_line(answer);
  }
  if (!f.answer_marked && f.reason.empty())
    f.reason = grader == "code" ? "no fenced code block after the reasoning"
                                : "no \\boxed{} or 'Answer:' after the reasoning";
  return f;
}

// ---------------------------------------------------------------------------------------------------------------
// Language.

std::string_view script_of(char32_t cp) {
  struct Range { char32_t lo, hi; const char* script; };
  // Blocks of the letters each script uses, sorted by start. Anything else is "Other".
  static constexpr std::array<Range, 40> kRanges = {{
      {0x0041, 0x005A, "Latin"},     {0x0061, 0x007A, "Latin"},      {0x00AA, 0x00AA, "Latin"},
      {0x00BA, 0x00BA, "Latin"},     {0x00C0, 0x024F, "Latin"},      {0x0250, 0x02AF, "Latin"},
      {0x0370, 0x03FF, "Greek"},     {0x0400, 0x052F, "Cyrillic"},   {0x0530, 0x058F, "Armenian"},
      {0x0590, 0x05FF, "Hebrew"},    {0x0600, 0x06FF, "Arabic"},     {0x0750, 0x077F, "Arabic"},
      {0x08A0, 0x08FF, "Arabic"},    {0x0900, 0x097F, "Devanagari"}, {0x0980, 0x09FF, "Bengali"},
      {0x0E00, 0x0E7F, "Thai"},      {0x10A0, 0x10FF, "Georgian"},   {0x1100, 0x11FF, "Hangul"},
      {0x1C80, 0x1C8F, "Cyrillic"},  {0x1E00, 0x1EFF, "Latin"},      {0x1F00, 0x1FFF, "Greek"},
      {0x2C60, 0x2C7F, "Latin"},     {0x2DE0, 0x2DFF, "Cyrillic"},   {0x2E80, 0x2FDF, "Han"},
      {0x3005, 0x3007, "Han"},       {0x3021, 0x3029, "Han"},        {0x3038, 0x303B, "Han"},
      {0x3040, 0x309F, "Hiragana"},  {0x30A0, 0x30FF, "Katakana"},   {0x3130, 0x318F, "Hangul"},
      {0x31F0, 0x31FF, "Katakana"},  {0x3400, 0x4DBF, "Han"},        {0x4E00, 0x9FFF, "Han"},
      {0xA640, 0xA69F, "Cyrillic"},  {0xA720, 0xA7FF, "Latin"},      {0xAC00, 0xD7AF, "Hangul"},
      {0xF900, 0xFAFF, "Han"},       {0xFB50, 0xFDFF, "Arabic"},     {0xFE70, 0xFEFF, "Arabic"},
      {0x20000, 0x3134F, "Han"},
  }};
  if ((cp >= 0xFF21 && cp <= 0xFF3A) || (cp >= 0xFF41 && cp <= 0xFF5A)) return "Latin";  // full-width letters
  if (cp >= 0xFF66 && cp <= 0xFF9F) return "Katakana";                                   // half-width katakana
  auto it = std::upper_bound(kRanges.begin(), kRanges.end(), cp,
                             [](char32_t c, const Range& r) { return c < r.lo; });
  if (it == kRanges.begin()) return "Other";
  --it;
  return cp <= it->hi ? std::string_view(it->script) : std::string_view("Other");
}

std::vector<std::string> target_scripts(std::string_view target) {
  static const std::map<std::string, std::vector<std::string>, std::less<>> kTargets = {
      {"en", {"Latin"}}, {"fr", {"Latin"}}, {"de", {"Latin"}}, {"es", {"Latin"}}, {"it", {"Latin"}},
      {"pt", {"Latin"}}, {"nl", {"Latin"}}, {"pl", {"Latin"}}, {"tr", {"Latin"}}, {"vi", {"Latin"}},
      {"id", {"Latin"}}, {"cs", {"Latin"}}, {"sv", {"Latin"}}, {"ro", {"Latin"}}, {"hu", {"Latin"}},
      {"ru", {"Cyrillic"}}, {"uk", {"Cyrillic"}}, {"bg", {"Cyrillic"}}, {"sr", {"Cyrillic"}},
      {"zh", {"Han"}}, {"ja", {"Han", "Hiragana", "Katakana"}}, {"ko", {"Hangul", "Han"}},
      {"ar", {"Arabic"}}, {"fa", {"Arabic"}}, {"he", {"Hebrew"}}, {"el", {"Greek"}}, {"hi", {"Devanagari"}},
      {"mr", {"Devanagari"}}, {"ne", {"Devanagari"}}, {"bn", {"Bengali"}}, {"th", {"Thai"}}, {"ka", {"Georgian"}},
      {"hy", {"Armenian"}},
  };
  static const std::vector<std::string> kScripts = {"Latin", "Greek", "Cyrillic", "Armenian", "Hebrew",
                                                    "Arabic", "Devanagari", "Bengali", "Thai", "Georgian",
                                                    "Hangul", "Hiragana", "Katakana", "Han"};
  std::string key(target);
  for (auto& c : key) if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  // "zh-CN", "en_US": the language part decides.
  if (auto cut = key.find_first_of("-_"); cut != std::string::npos) key.resize(cut);
  if (auto it = kTargets.find(key); it != kTargets.end()) return it->second;
  for (const auto& s : kScripts)
    if (key.size() == s.size() && std::equal(key.begin(), key.end(), s.begin(), [](char a, char b) {
          return a == (b >= 'A' && b <= 'Z' ? static_cast<char>(b - 'A' + 'a') : b);
        }))
      return {s};
  std::string known;
  for (const auto& [k, _] : kTargets) known += (known.empty() ? "" : ", ") + k;
  for (const auto& s : kScripts) known += ", " + s;
  throw Error(fmt::format("language '{}': unknown language or script (known: {})", target, known));
}

namespace {

// Scripts written without spaces between words: each letter counts as one word.
bool per_character(std::string_view script) {
  return script == "Han" || script == "Hiragana" || script == "Katakana" || script == "Thai";
}
// Alphabetic scripts whose single letters are usually variables in math text (x, π, ...): not counted.
bool variable_letters(std::string_view script) {
  return script == "Latin" || script == "Greek" || script == "Cyrillic";
}

// The end of a skipped span starting at `i` (math, code, a LaTeX command), or `i` when nothing starts there.
std::size_t skip_span(std::string_view s, std::size_t i) {
  auto closing = [&](std::string_view open, std::string_view close) -> std::size_t {
    if (s.compare(i, open.size(), open) != 0) return i;
    std::size_t end = s.find(close, i + open.size());
    return end == std::string_view::npos ? i : end + close.size();
  };
  char c = s[i];
  if (c == '<') {  // the think tags themselves are not words
    if (s.compare(i, kOpen.size(), kOpen) == 0) return i + kOpen.size();
    if (s.compare(i, kClose.size(), kClose) == 0) return i + kClose.size();
    return i;
  }
  if (c == '`') {
    if (std::size_t e = closing("```", "```"); e != i) return e;
    return closing("`", "`");
  }
  if (c == '$') {
    if (std::size_t e = closing("$$", "$$"); e != i) return e;
    return closing("$", "$");
  }
  if (c == '\\') {
    if (std::size_t e = closing("\\(", "\\)"); e != i) return e;
    if (std::size_t e = closing("\\[", "\\]"); e != i) return e;
    std::size_t j = i + 1;
    while (j < s.size() && ((s[j] >= 'a' && s[j] <= 'z') || (s[j] >= 'A' && s[j] <= 'Z'))) ++j;
    return j;
  }
  return i;
}

}  // namespace

LanguageCheck check_language(std::string_view response, std::string_view target) {
  const std::vector<std::string> targets = target_scripts(target);
  std::string_view text = response;
  if (std::size_t close = text.rfind(kClose); close != std::string_view::npos) text = text.substr(0, close);
  LanguageCheck out;
  std::map<std::string_view, std::size_t> by_script;
  std::string_view run_script;
  std::size_t run_letters = 0;
  auto end_run = [&] {
    if (run_letters == 0) return;
    if (!(run_letters == 1 && variable_letters(run_script))) {
      ++by_script[run_script];
      ++out.words;
      if (std::find(targets.begin(), targets.end(), run_script) != targets.end()) ++out.target_words;
    }
    run_letters = 0;
  };
  for (std::size_t i = 0; i < text.size();) {
    if (std::size_t e = skip_span(text, i); e != i) {
      end_run();
      i = e;
      continue;
    }
    std::int32_t cp = 0;
    std::size_t len = utf8_decode(text, i, cp);
    i += len;
    if (cp < 0) {
      end_run();
      continue;
    }
    const auto cat = utf8proc_category(cp);
    if (cat >= UTF8PROC_CATEGORY_MN && cat <= UTF8PROC_CATEGORY_ME) continue;  // marks stay inside their word
    if (cat < UTF8PROC_CATEGORY_LU || cat > UTF8PROC_CATEGORY_LO) {
      end_run();
      continue;
    }
    std::string_view script = script_of(static_cast<char32_t>(cp));
    if (script == "Other") {
      end_run();
      continue;
    }
    if (run_letters > 0 && (script != run_script || per_character(script))) end_run();
    run_script = script;
    ++run_letters;
  }
  end_run();
  out.share = out.words ? static_cast<double>(out.target_words) / static_cast<double>(out.words) : 0.0;
  std::size_t best = 0;
  for (const auto& [script, n] : by_script)
    if (n > best) best = n, out.top_script = std::string(script);
  return out;
}

double length_penalty(std::int64_t length, const LengthPenalty& p) {
  if (p.max_length <= 0) return 0.0;
  const std::int64_t buffer = std::clamp<std::int64_t>(p.buffer, 0, p.max_length);
  const std::int64_t soft = p.max_length - buffer;
  if (length <= soft) return 0.0;
  if (length > p.max_length || buffer == 0) return -1.0;
  return -static_cast<double>(length - soft) / static_cast<double>(buffer);
}

}  // namespace reval::rewards
