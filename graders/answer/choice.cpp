// The `choice` grader and its letter extraction (see choice.hpp). Patterns are compiled once per letter set and
// cached in a small mutex-guarded map (RE2 matching itself is thread-safe on const objects).
#include "graders/answer/choice.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>

#include <re2/re2.h>

#include "graders/answer/latex.hpp"
#include "graders/answer/math.hpp"
#include "graders/grader.hpp"
#include "base/error.hpp"

namespace reval::answer {
namespace {

struct Patterns {
  std::unique_ptr<RE2> answer_colon;
  std::unique_ptr<RE2> answer_is;
};

// Quotes around a letter: ASCII and typographic ("C", 'C', “C”, ‘C’, «C»).
constexpr const char* kQuote = "(?:\"|'|\xE2\x80\x9C|\xE2\x80\x9D|\xE2\x80\x98|\xE2\x80\x99|\xC2\xAB|\xC2\xBB)?";

const Patterns& patterns_for(const std::string& letters) {
  static std::mutex m;
  static std::map<std::string, std::unique_ptr<Patterns>> cache;
  std::lock_guard<std::mutex> lk(m);
  auto it = cache.find(letters);
  if (it != cache.end()) return *it->second;
  auto p = std::make_unique<Patterns>();
  std::string cls = "[" + letters + "]";
  std::string q = kQuote;
  // simple-evals: (?i)Answer\s*:\s*\$?([A-D])\$?  -- plus markdown, parentheses, quotes, other languages, a
  // full-width colon, and a word boundary after the letter.
  p->answer_colon = std::make_unique<RE2>(
      "(?:(?i:answer|r\xC3\xA9ponse|respuesta|antwort|resposta|risposta)|\xD0\x9E\xD1\x82\xD0\xB2\xD0\xB5\xD1\x82|"
      "\xE7\xAD\x94\xE6\xA1\x88)\\s*\\**\\s*(?::|\xEF\xBC\x9A)\\s*\\**\\s*\\$?\\s*" +
      q + "\\s*\\(?(" + cls + ")\\)?\\s*" + q + "\\$?(?:[^A-Za-z0-9]|$)");
  // "the answer is (C)", "the answer is for sure D", "la réponse est B", "答案是 C": up to three lower-case words
  // may stand between the phrase and the letter (captured, so that "is not A" can be refused).
  p->answer_is = std::make_unique<RE2>(
      "(?:(?i:answer\\s+is|answer\\s+would\\s+be|answer\\s+should\\s+be|correct\\s+option\\s+is|"
      "correct\\s+choice\\s+is|i\\s+choose|i\\s+select|i\\s+pick|i\\s+will\\s+go\\s+with|i'll\\s+go\\s+with|"
      "my\\s+choice\\s+is|la\\s+r\xC3\xA9ponse\\s+est|la\\s+respuesta\\s+es|die\\s+antwort\\s+ist|"
      "a\\s+resposta\\s+\xC3\xA9|la\\s+risposta\\s+\xC3\xA8)|\xE7\xAD\x94\xE6\xA1\x88\xE6\x98\xAF|"
      "\xE7\xAD\x94\xE6\xA1\x88\xE4\xB8\xBA|\xE5\xBA\x94\xE9\x80\x89|\xE9\x80\x89\xE6\x8B\xA9|\xE9\x80\x89)"
      "((?:\\s+[a-z\xC3\xA0-\xC3\xBF]+){0,3}?)\\s*:?\\s*\\**\\s*\\$?\\s*" + q +
      "\\s*(?:\\\\textbf\\{|\\\\text\\{)?\\(?(" + cls + ")\\)?(?:[^A-Za-z0-9]|$)");
  auto& ref = *p;
  cache.emplace(letters, std::move(p));
  return ref;
}

// Words that rule the following letter(s) out: "not C", "never D", "rather than A", "except B".
bool negation_word(std::string_view w) {
  static const std::string_view kNeg[] = {"not", "never", "no", "neither", "nor", "isn't", "isnt", "cannot", "except",
                                          "excluding", "than", "instead", "wrong", "incorrect", "eliminate",
                                          "eliminated", "exclude", "against", "pas", "nicht", "no\xC3\xA8"};
  return std::find(std::begin(kNeg), std::end(kNeg), w) != std::end(kNeg);
}

bool negated_filler(std::string_view filler) {
  std::size_t i = 0;
  while (i < filler.size()) {
    while (i < filler.size() && std::isspace(static_cast<unsigned char>(filler[i]))) ++i;
    std::size_t j = i;
    while (j < filler.size() && !std::isspace(static_cast<unsigned char>(filler[j]))) ++j;
    if (j > i && negation_word(filler.substr(i, j - i))) return true;
    i = j;
  }
  return false;
}

std::optional<char> last_match(const RE2& re, std::string_view text, bool with_filler) {
  re2::StringPiece input(text.data(), text.size());
  std::string letter, filler;
  std::optional<char> found;
  if (with_filler) {
    while (RE2::FindAndConsume(&input, re, &filler, &letter)) {
      if (!letter.empty() && !negated_filler(filler))
        found = static_cast<char>(std::toupper(static_cast<unsigned char>(letter[0])));
    }
    return found;
  }
  while (RE2::FindAndConsume(&input, re, &letter)) {
    if (!letter.empty()) found = static_cast<char>(std::toupper(static_cast<unsigned char>(letter[0])));
  }
  return found;
}

// The one letter that a short last line states, ignoring the letters it rules out: "B, surely not C or D" -> B,
// "not A but C" -> C. A letter counts when it stands alone (not inside a word, not the article "A" before a
// lower-case word). Two different letters left ("B or C") -> none.
std::optional<char> stated_letter(std::string_view line, std::string_view letters) {
  std::vector<std::string> tokens;
  for (std::size_t i = 0; i < line.size();) {
    unsigned char c = static_cast<unsigned char>(line[i]);
    if (std::isalnum(c) || c == '\'') {
      std::size_t j = i;
      while (j < line.size() && (std::isalnum(static_cast<unsigned char>(line[j])) || line[j] == '\'')) ++j;
      tokens.emplace_back(line.substr(i, j - i));
      i = j;
    } else {
      ++i;
    }
  }
  if (tokens.empty() || tokens.size() > 16) return std::nullopt;
  std::optional<char> found;
  bool negated = false;
  for (std::size_t k = 0; k < tokens.size(); ++k) {
    const std::string& t = tokens[k];
    std::string low(t);
    for (auto& ch : low) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (t.size() == 1 && letters.find(t[0]) != std::string_view::npos) {
      bool article = t == "A" && k + 1 < tokens.size() && std::islower(static_cast<unsigned char>(tokens[k + 1][0])) &&
                     tokens[k + 1] != "or" && tokens[k + 1] != "and" && tokens[k + 1] != "is";
      if (article) { negated = false; continue; }
      // ruled out after the letter: "B is not valid", "C is wrong", "D isn't"
      auto low_at = [&](std::size_t j) {
        std::string w = j < tokens.size() ? tokens[j] : std::string();
        for (auto& ch : w) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        return w;
      };
      std::string n1 = low_at(k + 1), n2 = low_at(k + 2);
      bool ruled_out = n1 == "isn't" || n1 == "isnt" || n1 == "cannot" ||
                       ((n1 == "is" || n1 == "was") && (n2 == "not" || n2 == "wrong" || n2 == "incorrect" ||
                                                        n2 == "false" || n2 == "invalid"));
      if (ruled_out) continue;
      if (!negated) {
        if (found && *found != t[0]) return std::nullopt;
        found = t[0];
      }
      continue;  // "not C or D": the negation runs on over the list
    }
    if (low == "or" || low == "and" || low == "nor") continue;
    negated = negation_word(low) || (low.size() > 3 && low.ends_with("n't"));
  }
  return found;
}

std::string squash(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (std::isalnum(static_cast<unsigned char>(c))) out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

// "C", "(C)", "C.", "**C**", "\text{C}", "Option C" -> 'C'
std::optional<char> lone_letter(std::string_view s, std::string_view letters) {
  std::string c = clean_latex(s);
  std::string t;
  // full-width punctuation: "C。", "（C）", "C："
  for (std::string_view fw : {"\xE3\x80\x82", "\xEF\xBC\x88", "\xEF\xBC\x89", "\xEF\xBC\x9A"}) {
    for (std::size_t p = c.find(fw); p != std::string::npos; p = c.find(fw)) c.erase(p, fw.size());
  }
  for (char ch : c) {
    if (ch == '*' || ch == '(' || ch == ')' || ch == '.' || ch == ':' || ch == ' ' || ch == '{' || ch == '}' ||
        ch == '[' || ch == ']' || ch == '"' || ch == '\'')
      continue;
    t += ch;
  }
  for (std::string_view pre : {"option", "Option", "choice", "Choice"}) {
    if (t.size() == pre.size() + 1 && t.compare(0, pre.size(), pre) == 0) t = t.substr(pre.size());
  }
  if (t.size() == 1 && letters.find(t[0]) != std::string_view::npos) return t[0];
  return std::nullopt;
}

std::optional<char> option_match(std::string_view s, std::string_view letters, const std::vector<std::string>& options) {
  if (options.empty()) return std::nullopt;
  std::string q = squash(clean_latex(s));
  if (q.empty()) return std::nullopt;
  for (std::size_t k = 0; k < options.size() && k < letters.size(); ++k) {
    if (squash(clean_latex(options[k])) == q) return letters[k];
  }
  return std::nullopt;
}

}  // namespace

std::optional<char> gold_letter(std::string_view gold, std::string_view choices, const std::vector<std::string>& options) {
  if (auto l = lone_letter(gold, choices)) return l;
  std::string t;
  for (char ch : gold)
    if (std::isalnum(static_cast<unsigned char>(ch))) t += static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  if (t.size() == 1 && choices.find(t[0]) != std::string_view::npos) return t[0];
  return option_match(gold, choices, options);
}

ChoiceExtraction extract_choice(std::string_view response, std::string_view choices,
                                const std::vector<std::string>& options, std::string_view finish_reason) {
  ChoiceExtraction ex;
  std::string reason;
  auto body = strip_reasoning(response, finish_reason_from_string(finish_reason), &reason);
  if (!body) {
    ex.reason = reason;
    return ex;
  }
  std::string_view text = *body;
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  if (text.empty()) {
    ex.reason = "empty";
    return ex;
  }
  std::string letters(choices);
  const Patterns& p = patterns_for(letters);
  if (auto l = last_match(*p.answer_colon, text, false)) { ex.letter = l; ex.method = "answer_colon"; return ex; }
  auto boxed = last_boxed(text);
  if (boxed) {
    if (auto l = lone_letter(*boxed, letters)) { ex.letter = l; ex.method = "boxed"; return ex; }
  }
  if (auto l = last_match(*p.answer_is, text, true)) { ex.letter = l; ex.method = "answer_is"; return ex; }
  std::string_view last_line = text.substr(text.rfind('\n') == std::string_view::npos ? 0 : text.rfind('\n') + 1);
  if (auto l = lone_letter(last_line, letters)) { ex.letter = l; ex.method = "last_line"; return ex; }
  if (auto l = stated_letter(last_line, letters)) { ex.letter = l; ex.method = "stated_letter"; return ex; }
  if (!options.empty()) {
    if (boxed) {
      if (auto l = option_match(*boxed, letters, options)) { ex.letter = l; ex.method = "option_text"; return ex; }
    }
    auto ph = std::min(text.size(), text.size());
    (void)ph;
    for (std::string_view phrase : {"answer is", "answer:"}) {
      std::string low(text);
      for (auto& c : low) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      std::size_t pos = low.rfind(phrase);
      if (pos == std::string::npos) continue;
      std::string_view rest = text.substr(pos + phrase.size());
      rest = rest.substr(0, rest.find('\n'));
      while (!rest.empty() && (rest.back() == '.' || std::isspace(static_cast<unsigned char>(rest.back())))) rest.remove_suffix(1);
      if (auto l = option_match(rest, letters, options)) { ex.letter = l; ex.method = "option_text"; return ex; }
    }
    if (auto l = option_match(last_line, letters, options)) { ex.letter = l; ex.method = "option_text"; return ex; }
  }
  ex.reason = "no_letter";
  return ex;
}

namespace {

class ChoiceGrader final : public Grader {
 public:
  explicit ChoiceGrader(std::string default_choices) : default_choices_(std::move(default_choices)) {}
  std::string_view name() const override { return "choice"; }
  // 1.1: quotes, "answer is <words> X", other languages, ruled-out letters (issue 13)
  std::string_view version() const override { return "1.1"; }

  GradeResult grade(const GradeRequest& req) const override {
    GradeResult r;
    auto t0 = std::chrono::steady_clock::now();
    {  // failures propagate to GraderSet::grade, the one place they become infra_error
      std::string choices = default_choices_;
      std::vector<std::string> options;
      const std::string finish = to_string(req.finish);
      if (req.fields.is_object()) {
        if (auto it = req.fields.find("choices"); it != req.fields.end()) {
          if (it->is_string()) choices = it->get<std::string>();
          else if (it->is_number_integer()) choices = std::string("ABCDEFGHIJ").substr(0, std::clamp(it->get<int>(), 2, 10));
        }
        if (auto it = req.fields.find("options"); it != req.fields.end() && it->is_array()) {
          for (const auto& o : *it) if (o.is_string()) options.push_back(o.get<std::string>());
        }
      }
      bool valid = !choices.empty() && choices.size() <= 26 &&
                   std::all_of(choices.begin(), choices.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
      if (!valid) {
        r.verdict = Verdict::infra_error;
        r.details["error"] = "fields.choices must be upper-case letters, e.g. \"ABCD\"";
        return r;
      }
      if (req.gold.empty()) {
        r.verdict = Verdict::infra_error;
        r.details["error"] = "no gold answer";
        return r;
      }
      ChoiceExtraction ex = extract_choice(req.response, choices, options, finish);
      r.details["choices"] = choices;
      if (!ex.letter) {
        r.verdict = Verdict::no_answer;
        r.details["method"] = "none";
        r.details["reason"] = ex.reason;
      } else {
        r.extracted = std::string(1, *ex.letter);
        r.details["method"] = ex.method;
        r.verdict = Verdict::wrong;
        for (std::size_t k = 0; k < req.gold.size(); ++k) {
          auto g = gold_letter(req.gold[k], choices, options);
          if (!g) r.details["bad_gold"] = req.gold[k];
          if (g && *g == *ex.letter) {
            r.verdict = Verdict::correct;
            r.score = 1.0;
            r.details["matched_gold"] = k;
            break;
          }
        }
      }
    }
    r.details["time_us"] = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count();
    return r;
  }

 private:
  std::string default_choices_;
};

}  // namespace
}  // namespace reval::answer

namespace reval {

std::unique_ptr<Grader> make_choice_grader(const nlohmann::json& options) {
  std::string choices = "ABCD";
  if (options.is_object() && options.contains("choices")) {
    if (!options["choices"].is_string()) throw Error("choice grader options: choices must be a string");
    choices = options["choices"].get<std::string>();
  }
  return std::make_unique<answer::ChoiceGrader>(choices);
}

}  // namespace reval
