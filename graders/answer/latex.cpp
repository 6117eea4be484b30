// LaTeX answer cleaning and parsing (see latex.hpp). A single-pass cleaner rewrites presentation-only markup; a
// recursive-descent parser with an explicit depth limit builds the Node tree; parse_value() recognises the answer
// structure (matrix, union, set, bracketed tuple/interval, comma list, equation, inequality) around expressions.
#include "graders/answer/latex.hpp"

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace reval::answer {
namespace {

bool is_alpha(char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// Reads a brace group starting at s[i] == '{'; returns its content and moves i past the closing brace. On an
// unbalanced group returns the rest of the string.
std::string_view brace_group(std::string_view s, std::size_t& i) {
  std::size_t start = i + 1;
  int depth = 0;
  for (std::size_t j = i; j < s.size(); ++j) {
    if (s[j] == '\\' && j + 1 < s.size()) { ++j; continue; }
    if (s[j] == '{') ++depth;
    else if (s[j] == '}' && --depth == 0) { i = j + 1; return s.substr(start, j - start); }
  }
  i = s.size();
  return start <= s.size() ? s.substr(start) : std::string_view{};
}

bool is_unit_words(std::string_view c) {
  bool letter = false;
  for (char ch : c) {
    if (is_alpha(ch)) letter = true;
    else if (!(is_space(ch) || ch == '.' || ch == '-' || ch == '/' || ch == '^' || is_digit(ch))) return false;
  }
  return letter;
}

// Replacements of a few UTF-8 symbols models like to print.
struct Utf8Rep { std::string_view from, to; };
constexpr Utf8Rep kUtf8[] = {
    {"\xE2\x88\x92", "-"},        {"\xC3\x97", "\\times "},  {"\xC2\xB7", "\\cdot "},   {"\xCF\x80", "\\pi "},
    {"\xE2\x88\x9E", "\\infty "}, {"\xE2\x88\x9A", "\\sqrt"}, {"\xE2\x89\xA4", "<="},    {"\xE2\x89\xA5", ">="},
    {"\xE2\x89\xA0", "!="},       {"\xC2\xB1", "\\pm "},      {"\xC2\xB0", "\\degree "}, {"\xE2\x88\xAA", "\\cup "},
    {"\xE2\x80\x89", ""},         {"\xC2\xA0", " "},          {"\xE2\x80\xAF", ""},       {"\xE2\x89\x88", "\\approx "},
    {"\xEF\xBC\x8C", ","},        {"\xE2\x88\x88", "\\in "},
};

// Commands that a doubly escaped string ("\\frac{1}{2}", copied from a JSON or Python literal) spells with two
// backslashes; "\\" directly followed by one of these names is read as a single backslash.
constexpr std::string_view kEscapedCommands[] = {
    "frac", "dfrac", "tfrac", "cfrac", "sqrt", "left", "right", "begin", "end", "cdot", "times", "pi", "infty", "text",
    "textbf", "mathrm", "mbox", "boxed", "le", "leq", "ge", "geq", "ne", "neq", "pm", "mp", "sin", "cos", "tan",
    "log", "ln", "exp", "circ", "quad", "qquad", "alpha", "beta", "gamma", "theta", "lambda", "mu", "sigma", "phi",
    "omega", "in", "cup", "cap", "approx", "dots", "ldots", "cdots", "mathbf", "operatorname", "overline", "div",
    "binom", "dbinom", "lfloor", "rfloor", "lceil", "rceil", "vert", "lvert", "rvert", "mid", "sec", "csc", "cot",
    "emptyset", "varnothing", "angle", "triangle", "textnormal", "displaystyle", "lt", "gt", "infin"};

bool escaped_command_at(std::string_view s, std::size_t i) {  // s[i] == s[i+1] == '\\'
  std::size_t j = i + 2;
  while (j < s.size() && is_alpha(s[j])) ++j;
  std::string_view name = s.substr(i + 2, j - i - 2);
  if (name.empty()) return false;
  for (auto c : kEscapedCommands)
    if (c == name) return true;
  return false;
}

// Units dropped after a number ("12 cm", "3 square units", "40 km/h", "5 hours"). Two-letter units need a space
// before them ("10cm" may be 10*c*m); longer ones may touch the number ("10weeks"); one-letter units (m, s, g, h)
// are never dropped: "2 m" is as likely the product 2m.
constexpr std::string_view kUnits[] = {
    "mm", "cm", "km", "in", "inch", "inches", "ft", "feet", "foot", "yd", "yard", "yards", "mi", "mile", "miles",
    "meter", "meters", "metre", "metres", "centimeter", "centimeters", "kilometer", "kilometers", "millimeter",
    "millimeters", "unit", "units", "kg", "mg", "gram", "grams", "kilogram", "kilograms", "lb", "lbs", "pound",
    "pounds", "ounce", "ounces", "oz", "ton", "tons", "sec", "secs", "second", "seconds", "min", "mins",
    "minute", "minutes", "hr", "hrs", "hour", "hours", "day", "days", "week", "weeks", "month", "months", "year",
    "years", "ml", "mL", "liter", "liters", "litre", "litres", "gallon", "gallons", "dollar", "dollars", "cent",
    "cents", "yuan", "euro", "euros", "degree", "degrees", "mph", "kph", "rpm", "sq", "square", "cubic"};

bool is_unit(std::string_view w) {
  for (auto u : kUnits)
    if (u == w) return true;
  return false;
}

// Length of a unit phrase at s[i] ("cm", "square units", "km/h", "cm^2", "m^{3}") or 0. `touching`: no space
// between the number and the unit.
std::size_t unit_phrase(std::string_view s, std::size_t i, bool touching) {
  std::size_t j = i, words = 0;
  bool after_slash = false;
  for (;;) {
    std::size_t k = j;
    while (k < s.size() && is_alpha(s[k])) ++k;
    std::string_view w = s.substr(j, k - j);
    bool unit = is_unit(w) || (after_slash && (w == "h" || w == "s"));
    if (w.empty() || !unit || (touching && words == 0 && w.size() <= 2)) break;
    j = k;
    ++words;
    after_slash = false;
    if (j < s.size() && s[j] == '/' && j + 1 < s.size() && is_alpha(s[j + 1])) {  // km/h
      ++j;
      after_slash = true;
      continue;
    }
    std::size_t sp = j;
    while (sp < s.size() && s[sp] == ' ') ++sp;
    if ((w == "sq" || w == "square" || w == "cubic") && sp < s.size() && is_alpha(s[sp])) { j = sp; continue; }
    break;
  }
  if (words == 0) return 0;
  // a small power: ^2, ^{3}
  if (j + 1 < s.size() && s[j] == '^') {
    if (is_digit(s[j + 1])) j += 2;
    else if (s.compare(j + 1, 3, "{2}") == 0 || s.compare(j + 1, 3, "{3}") == 0) j += 4;
  }
  if (j < s.size() && (is_alpha(s[j]) || is_digit(s[j]) || s[j] == '(' || s[j] == '^')) return 0;
  return j - i;
}

// "percent", "percentage", "pct" spelled after a number (a percent sign in words).
std::size_t percent_word(std::string_view s, std::size_t i) {
  for (std::string_view w : {"percentage", "percent", "pct"}) {
    if (s.size() - i >= w.size() && s.compare(i, w.size(), w) == 0 &&
        (i + w.size() == s.size() || !is_alpha(s[i + w.size()])))
      return w.size();
  }
  return 0;
}

}  // namespace

namespace {
std::string clean_latex_rec(std::string_view s, int depth);
}
std::string clean_latex(std::string_view s) { return clean_latex_rec(s, 0); }

namespace {
// Appends a list separator for "and"/"or": "19, 46, and 82" -> "19, 46, 82" (no empty item).
void emit_separator(std::string& out) {
  while (!out.empty() && is_space(out.back())) out.pop_back();
  if (!out.empty() && out.back() == ',') return;
  out += ", ";
}

// Was the text emitted so far ending in a number (for units and percent words)?
bool ends_with_number(const std::string& out, bool* touching = nullptr) {
  std::size_t k = out.size();
  while (k > 0 && out[k - 1] == ' ') --k;
  if (touching) *touching = k == out.size();
  return k > 0 && is_digit(out[k - 1]);
}

std::string clean_latex_rec(std::string_view s, int depth) {
  std::string out;
  out.reserve(s.size());
  int skip_close = 0;  // pending '}' to drop after "^{\circ"
  std::size_t i = 0;
  while (i < s.size()) {
    char c = s[i];
    if (static_cast<unsigned char>(c) >= 0x80) {
      bool done = false;
      for (const auto& r : kUtf8) {
        if (s.substr(i, r.from.size()) == r.from) { out += r.to; i += r.from.size(); done = true; break; }
      }
      if (!done) out += s[i++];
      continue;
    }
    if (c == '}' && skip_close > 0) { --skip_close; ++i; continue; }
    if (c == '$' || c == '%' || c == '~') { if (c == '~') out += ' '; ++i; continue; }
    if (c == '{' && s.substr(i, 3) == "{,}") { i += 3; continue; }
    if (c == '{' && s.substr(i, 3) == "{, " && s.find('}', i) != std::string_view::npos &&
        trim(s.substr(i + 2, s.find('}', i) - i - 2)).empty()) {  // "14 {, }916"
      i = s.find('}', i) + 1;
      continue;
    }
    // Thousands written ",\!" ("12,\!345"): the comma goes with the thin space.
    if (c == ',' && s.compare(i, 3, ",\\!") == 0 && !out.empty() && is_digit(out.back())) {
      std::size_t k = i + 3;
      while (k < s.size() && s[k] == ' ') ++k;
      if (k + 3 <= s.size() && is_digit(s[k]) && is_digit(s[k + 1]) && is_digit(s[k + 2]) &&
          (k + 3 == s.size() || !is_digit(s[k + 3]))) {
        i = k;
        continue;
      }
    }
    if (is_alpha(c)) {
      std::size_t j = i;
      while (j < s.size() && is_alpha(s[j])) ++j;
      std::string_view w = s.substr(i, j - i);
      bool touching = false;
      if (w == "and" || w == "or") { emit_separator(out); i = j; continue; }
      if (ends_with_number(out, &touching)) {
        std::string low(w);
        for (auto& ch : low) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        if (std::size_t n = percent_word(low, 0)) {  // "28 percent" == "28\%": the sign is dropped like '%'
          (void)n;
          i = j;
          continue;
        }
        if (std::size_t n = unit_phrase(s, i, touching)) { i += n; continue; }
      }
      out.append(w);
      i = j;
      continue;
    }
    if (c != '\\') { out += c; ++i; continue; }
    // "\\frac" in a doubly escaped string is "\frac".
    if (i + 1 < s.size() && s[i + 1] == '\\' && escaped_command_at(s, i)) { ++i; continue; }
    // A command.
    std::size_t j = i + 1;
    while (j < s.size() && is_alpha(s[j])) ++j;
    std::string_view name = s.substr(i + 1, j - i - 1);
    if (name.empty()) {  // single-character command
      if (j >= s.size()) { ++i; continue; }
      char d = s[j];
      if (d == ',' || d == '!' || d == ';' || d == ':' || d == '$' || d == '%') { i = j + 1; continue; }
      if (d == ' ') { out += ' '; i = j + 1; continue; }
      out += '\\'; out += d; i = j + 1; continue;
    }
    static const std::string_view kDrop[] = {"left", "right", "bigl", "bigr", "Bigl", "Bigr", "big", "Big", "bigg",
                                             "Bigg", "biggl", "biggr", "Biggl", "Biggr", "middle", "displaystyle",
                                             "textstyle", "limits", "nolimits", "quad", "qquad", "hfill", "enspace",
                                             "thinspace", "medspace", "thickspace", "negthinspace", "hspace"};
    if (std::find(std::begin(kDrop), std::end(kDrop), name) != std::end(kDrop)) {
      i = j;
      if ((name == "left" || name == "right") && i < s.size() && s[i] == '.') ++i;
      if (name == "hspace" && i < s.size() && s[i] == '{') brace_group(s, i);
      if (name == "quad" || name == "qquad") out += ' ';
      continue;
    }
    // "\quadx" (a space lost after \quad): the spacing, then the letters.
    if (name.size() > 4 && (name.compare(0, 5, "qquad") == 0 || name.compare(0, 4, "quad") == 0)) {
      std::size_t skip = name.compare(0, 5, "qquad") == 0 ? 5 : 4;
      out += ' ';
      i += 1 + skip;
      continue;
    }
    if (name == "dfrac" || name == "tfrac" || name == "cfrac") { out += "\\frac"; i = j; continue; }
    if (name == "dbinom" || name == "tbinom") { out += "\\binom"; i = j; continue; }
    if (name == "circ" || name == "degree") {
      // "^\circ" or "^{\circ}": a degree mark (the parser reads it as pi/180 inside trigonometric functions only).
      std::size_t k = out.size();
      while (k > 0 && is_space(out[k - 1])) --k;
      if (k >= 2 && out.compare(k - 2, 2, "^{") == 0) { out.resize(k - 2); ++skip_close; }
      else if (k >= 1 && out[k - 1] == '^') out.resize(k - 1);
      else if (name == "circ" && !(k >= 1 && (is_digit(out[k - 1]) || out[k - 1] == '}'))) {
        out += "\\circ";  // composition "f \circ g", not degrees
        i = j;
        continue;
      }
      out += "\\degree ";
      i = j;
      continue;
    }
    if (name == "leq" || name == "le" || name == "leqslant") { out += "<="; i = j; continue; }
    if (name == "geq" || name == "ge" || name == "geqslant") { out += ">="; i = j; continue; }
    if (name == "neq" || name == "ne") { out += "!="; i = j; continue; }
    if (name == "lt") { out += "<"; i = j; continue; }
    if (name == "gt") { out += ">"; i = j; continue; }
    if (name == "mathbf" || name == "boldsymbol" || name == "mathit" || name == "bm" || name == "mathnormal") {
      i = j;
      while (i < s.size() && is_space(s[i])) ++i;
      continue;  // the argument group stays as a plain group
    }
    if (name == "text" || name == "textbf" || name == "textrm" || name == "textit" || name == "mbox" ||
        name == "mathrm" || name == "textnormal" || name == "hbox" || name == "textsf" || name == "texttt") {
      std::size_t k = j;
      while (k < s.size() && is_space(s[k])) ++k;
      if (k >= s.size() || s[k] != '{') { i = j; continue; }
      std::string_view content = brace_group(s, k);
      std::string_view t = trim(content);
      std::string low(t);
      for (auto& ch : low) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      bool something_before = !trim(out).empty();
      if (low == "or" || low == "and" || low == "," || low == ", and" || low == ", or") {
        emit_separator(out);
      } else if (something_before && ends_with_number(out) && percent_word(low, 0) == low.size()) {
        // "28\text{ percent}"
      } else if ((t.size() > 1 || (ends_with_number(out) && is_alpha(t[0]))) && something_before && is_unit_words(t)) {
        // A unit ("\text{ cm}^2"): drop it with a following small power.
        if (k < s.size() && s[k] == '^') {
          if (k + 1 < s.size() && is_digit(s[k + 1])) k += 2;
          else if (k + 1 < s.size() && s[k + 1] == '{') { ++k; brace_group(s, k); }
        }
      } else if (t.size() >= 2 && std::all_of(t.begin(), t.end(), [](char ch) { return is_alpha(ch) || ch == ' '; })) {
        // A word ("\text{odd}", "\text{Evelyn}") stays text: it must never parse as a product of variables.
        out += "\\text{";
        out += t;
        out += '}';
      } else {
        if (depth < 20) out += clean_latex_rec(content, depth + 1);
        else out += content;
      }
      i = k;
      continue;
    }
    out += '\\';
    out += name;
    i = j;
  }
  // Trim, then trailing punctuation and TeX line breaks.
  std::string_view v = trim(out);
  for (bool changed = true; changed && !v.empty();) {
    changed = false;
    if (v.back() == '.' || v.back() == ',' || v.back() == ';') {
      v.remove_suffix(1); v = trim(v); changed = true;
    } else if (v.size() >= 2 && v.substr(v.size() - 2) == "\\\\") {
      v.remove_suffix(2); v = trim(v); changed = true;
    }
  }
  while (!v.empty() && v.front() == ',') { v.remove_prefix(1); v = trim(v); }
  return std::string(v);
}
}  // namespace

bool is_unit_word(std::string_view w) { return is_unit(w); }

std::vector<std::string> split_top_level(std::string_view s, char sep) {
  std::vector<std::string> parts;
  int depth = 0;
  std::size_t start = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '\\' && i + 1 < s.size()) {
      char d = s[i + 1];
      if (d == '{' || d == '(' || d == '[') ++depth;
      else if (d == '}' || d == ')' || d == ']') --depth;
      else if (s.compare(i, 6, "\\begin") == 0) ++depth;
      else if (s.compare(i, 4, "\\end") == 0) --depth;
      ++i;
      continue;
    }
    if (c == '{' || c == '(' || c == '[') ++depth;
    else if (c == '}' || c == ')' || c == ']') --depth;
    else if (c == sep && depth == 0) {
      parts.emplace_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  parts.emplace_back(s.substr(start));
  return parts;
}

// ---------------------------------------------------------------------------------------------------------------
// Expression parser.
namespace {

struct ParseError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

Node mk(NodeKind k, std::string text = {}) {
  Node n;
  n.kind = k;
  n.text = std::move(text);
  return n;
}
Node mk1(NodeKind k, Node a, std::string text = {}) {
  Node n = mk(k, std::move(text));
  n.kids.push_back(std::move(a));
  return n;
}
Node mk2(NodeKind k, Node a, Node b, std::string text = {}) {
  Node n = mk(k, std::move(text));
  n.kids.push_back(std::move(a));
  n.kids.push_back(std::move(b));
  return n;
}

const std::string_view kFuncs[] = {"sin",    "cos",    "tan",    "sec",  "csc",  "cot",  "arcsin", "arccos",
                                   "arctan", "sinh",   "cosh",   "tanh", "ln",   "log",  "exp",    "lg",
                                   "arcsec", "arccsc", "arccot", "coth", "sech", "csch"};
const std::string_view kGreek[] = {"alpha", "beta",  "gamma",  "delta", "epsilon", "varepsilon", "zeta",  "eta",
                                   "theta", "vartheta", "iota", "kappa", "lambda",  "mu",         "nu",    "xi",
                                   "rho",   "varrho", "sigma",  "tau",   "upsilon", "phi",        "varphi", "chi",
                                   "psi",   "omega",  "Gamma",  "Delta", "Theta",   "Lambda",     "Xi",    "Pi",
                                   "Sigma", "Upsilon", "Phi",   "Psi",   "Omega",   "ell"};

bool is_func_name(std::string_view n) {
  return std::find(std::begin(kFuncs), std::end(kFuncs), n) != std::end(kFuncs);
}
bool is_greek(std::string_view n) { return std::find(std::begin(kGreek), std::end(kGreek), n) != std::end(kGreek); }

std::string func_canonical(std::string_view n) {
  if (n == "arcsin") return "asin";
  if (n == "arccos") return "acos";
  if (n == "arctan") return "atan";
  if (n == "lg") return "log10";
  return std::string(n);
}

class Parser {
 public:
  Parser(std::string_view s, const ParseLimits& lim) : s_(s), lim_(lim) {}

  Node parse_all() {
    Node n = expr();
    ws();
    if (i_ != s_.size()) throw ParseError("unexpected '" + std::string(1, s_[i_]) + "' at " + std::to_string(i_));
    return n;
  }

 private:
  std::string_view s_;
  ParseLimits lim_;
  std::size_t i_ = 0;
  int depth_ = 0;
  int abs_depth_ = 0;
  int trig_depth_ = 0;

  struct DepthGuard {
    Parser& p;
    explicit DepthGuard(Parser& p_) : p(p_) {
      if (++p.depth_ > p.lim_.max_depth) throw ParseError("nesting too deep");
    }
    ~DepthGuard() { --p.depth_; }
  };

  void ws() {
    while (i_ < s_.size() && is_space(s_[i_])) ++i_;
  }
  bool at_end() { ws(); return i_ >= s_.size(); }
  char peek() { ws(); return i_ < s_.size() ? s_[i_] : '\0'; }
  // Command name at the current position (without the backslash) or empty.
  std::string_view peek_cmd() {
    ws();
    if (i_ >= s_.size() || s_[i_] != '\\') return {};
    std::size_t j = i_ + 1;
    while (j < s_.size() && is_alpha(s_[j])) ++j;
    if (j == i_ + 1 && j < s_.size()) return s_.substr(i_ + 1, 1);  // \{ \| ...
    return s_.substr(i_ + 1, j - i_ - 1);
  }
  void take_cmd(std::string_view name) { i_ += 1 + name.size(); }
  bool eat(char c) {
    if (peek() == c) { ++i_; return true; }
    return false;
  }
  void expect(char c) {
    if (!eat(c)) throw ParseError(std::string("expected '") + c + "'");
  }
  bool eat_str(std::string_view t) {
    ws();
    if (s_.substr(i_, t.size()) == t) { i_ += t.size(); return true; }
    return false;
  }

  Node expr() {
    DepthGuard g(*this);
    Node left;
    bool have = false;
    // Leading sign / \pm.
    std::string_view c = peek_cmd();
    if (c == "pm" || c == "mp") {
      take_cmd(c);
      left = mk2(NodeKind::pm, mk(NodeKind::num, "0"), term());
      have = true;
    } else {
      left = term();
      have = true;
    }
    (void)have;
    for (;;) {
      char p = peek();
      std::string_view cmd = peek_cmd();
      if (p == '+') { ++i_; left = add(std::move(left), term()); }
      else if (p == '-') { ++i_; left = add(std::move(left), mk1(NodeKind::neg, term())); }
      else if (cmd == "pm" || cmd == "mp") { take_cmd(cmd); left = mk2(NodeKind::pm, std::move(left), term()); }
      else break;
    }
    return left;
  }

  static Node add(Node a, Node b) {
    if (a.kind == NodeKind::add) { a.kids.push_back(std::move(b)); return a; }
    return mk2(NodeKind::add, std::move(a), std::move(b));
  }
  static Node mul(Node a, Node b) {
    if (a.kind == NodeKind::mul) { a.kids.push_back(std::move(b)); return a; }
    return mk2(NodeKind::mul, std::move(a), std::move(b));
  }

  bool starts_primary() {
    char p = peek();
    if (p == '\0') return false;
    if (is_digit(p) || p == '.' || is_alpha(p) || p == '(' || p == '{') return true;
    if (p == '[') return true;
    if (p == '|') return abs_depth_ == 0;
    if (p == '\\') {
      std::string_view c = peek_cmd();
      static const std::string_view kNot[] = {"cdot", "times", "div", "pm", "mp", "right", "rbrace", "}", ")", "]",
                                              "rvert", "rfloor", "rceil", "|", "cup", "cap", "in", "to", "end",
                                              "quad", "rangle", "and", "colon"};
      if (std::find(std::begin(kNot), std::end(kNot), c) != std::end(kNot)) return false;
      if (c == "rvert" || (c == "vert" && abs_depth_ > 0)) return false;
      return true;
    }
    return false;
  }

  Node term() {
    DepthGuard g(*this);
    Node left = unary();
    for (;;) {
      char p = peek();
      std::string_view cmd = peek_cmd();
      if (p == '*') { ++i_; left = mul(std::move(left), unary()); }
      else if (p == '/') { ++i_; left = mk2(NodeKind::div, std::move(left), unary()); }
      else if (cmd == "cdot" || cmd == "times" || cmd == "ast") { take_cmd(cmd); left = mul(std::move(left), unary()); }
      else if (cmd == "div") { take_cmd(cmd); left = mk2(NodeKind::div, std::move(left), unary()); }
      else if (starts_primary()) {
        // Mixed number: integer literal directly followed by \frac{int}{int}.
        if (left.kind == NodeKind::num && !left.decimal && cmd == "frac") {
          std::size_t save = i_;
          Node f = power();
          if (f.kind == NodeKind::div && f.kids[0].kind == NodeKind::num && f.kids[1].kind == NodeKind::num &&
              !f.kids[0].decimal && !f.kids[1].decimal) {
            left = add(std::move(left), std::move(f));
            continue;
          }
          i_ = save;
        }
        left = mul(std::move(left), power());
      } else break;
    }
    return left;
  }

  Node unary() {
    DepthGuard g(*this);
    char p = peek();
    if (p == '-') { ++i_; return mk1(NodeKind::neg, unary()); }
    if (p == '+') { ++i_; return unary(); }
    return power();
  }

  Node power() {
    DepthGuard g(*this);
    Node base = postfix();
    if (peek() == '^') {
      ++i_;
      Node e = exponent();
      Node r = mk2(NodeKind::pow, std::move(base), std::move(e));
      while (peek() == '!') { ++i_; r = mk1(NodeKind::fact, std::move(r)); }
      return r;
    }
    return base;
  }

  Node exponent() {
    DepthGuard g(*this);
    char p = peek();
    if (p == '{') { ++i_; Node e = expr(); expect('}'); return e; }
    if (p == '-') { ++i_; return mk1(NodeKind::neg, exponent()); }
    if (p == '+') { ++i_; return exponent(); }
    if (is_digit(p)) {
      std::size_t j = i_;
      while (j < s_.size() && is_digit(s_[j])) ++j;
      Node n = mk(NodeKind::num, std::string(s_.substr(i_, j - i_)));
      i_ = j;
      return n;
    }
    if (is_alpha(p)) return symbol_or_const(std::string(1, s_[i_++]));
    return postfix();
  }

  Node postfix() {
    Node n = primary();
    for (;;) {
      if (peek() == '!') { ++i_; n = mk1(NodeKind::fact, std::move(n)); continue; }
      if (peek_cmd() == "degree") {
        take_cmd("degree");
        // Degrees are radians * pi/180 inside a trigonometric function ("\sin(90^\circ - x)" = cos x); elsewhere
        // the mark is dropped (an angle of 30 degrees is the answer 30).
        if (trig_depth_ > 0) n = mk2(NodeKind::div, mk2(NodeKind::mul, std::move(n), mk(NodeKind::pi)), mk(NodeKind::num, "180"));
        continue;
      }
      break;
    }
    return n;
  }

  // A single-token argument (\frac12, \sqrt2) or a brace group.
  Node arg() {
    DepthGuard g(*this);
    char p = peek();
    if (p == '{') { ++i_; Node e = expr(); expect('}'); return e; }
    if (is_digit(p)) { ++i_; return mk(NodeKind::num, std::string(1, p)); }
    if (is_alpha(p)) { ++i_; return symbol_or_const(std::string(1, p)); }
    if (p == '\\') return primary();
    throw ParseError("missing argument");
  }

  Node symbol_or_const(std::string name) {
    if (name == "e") return mk(NodeKind::e);
    if (name == "i") return mk(NodeKind::imag);
    return subscript(std::move(name));
  }

  Node subscript(std::string name) {
    if (peek() == '_') {
      ++i_;
      char p = peek();
      std::string sub;
      if (p == '{') {
        std::size_t k = i_;
        sub = std::string(brace_group(s_, k));
        i_ = k;
      } else if (p != '\0') {
        std::size_t j = i_;
        if (is_digit(p)) while (j < s_.size() && is_digit(s_[j])) ++j;
        else ++j;
        sub = std::string(s_.substr(i_, j - i_));
        i_ = j;
      }
      std::string clean;
      for (char ch : sub) if (!is_space(ch) && ch != '{' && ch != '}') clean += ch;
      name += "_" + clean;
    }
    return mk(NodeKind::sym, std::move(name));
  }

  // Function argument without parentheses: a product of simple factors ("\sin 2x" = sin(2x)).
  Node func_arg() {
    DepthGuard g(*this);
    char p = peek();
    if (p == '(' || p == '{' || p == '[') return power();
    Node a = power();
    for (;;) {
      char q = peek();
      if (q == '\0') break;
      bool simple = is_digit(q) || (is_alpha(q) && plain_word_function().empty());
      if (q == '\\') {
        std::string_view c = peek_cmd();
        simple = c == "pi" || is_greek(c) || c == "frac" || c == "sqrt";
      }
      if (!simple) break;
      a = mul(std::move(a), power());
    }
    return a;
  }

  // A function name spelled without a backslash at the current position (sin, log, sqrt, ...).
  std::string_view plain_word_function() {
    static const std::string_view kWords[] = {"arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "sqrt", "sin",
                                              "cos",    "tan",    "sec",    "csc",  "cot",  "log",  "ln",   "exp"};
    for (auto w : kWords) {
      if (s_.substr(i_, w.size()) == w && (i_ + w.size() >= s_.size() || !is_alpha(s_[i_ + w.size()]))) return w;
    }
    return {};
  }

  Node apply_function(std::string fname) {
    // Optional power / inverse: \sin^2 x, \sin^{-1} x; optional log base.
    std::optional<Node> pw;
    std::optional<Node> base;
    for (int k = 0; k < 2; ++k) {
      if (peek() == '^') {
        ++i_;
        Node e = exponent();
        if (e.kind == NodeKind::neg && e.kids[0].kind == NodeKind::num && e.kids[0].text == "1" &&
            (fname == "sin" || fname == "cos" || fname == "tan")) {
          fname = "a" + fname;
        } else {
          pw = std::move(e);
        }
      } else if (peek() == '_' && (fname == "log")) {
        ++i_;
        base = arg();
      }
    }
    bool trig = fname == "sin" || fname == "cos" || fname == "tan" || fname == "sec" || fname == "csc" || fname == "cot";
    if (trig) ++trig_depth_;
    Node a = func_arg();
    if (trig) --trig_depth_;
    Node f = mk1(NodeKind::func, std::move(a), fname);
    if (base) f.kids.push_back(std::move(*base));
    if (pw) f = mk2(NodeKind::pow, std::move(f), std::move(*pw));
    return f;
  }

  Node group(char close) {
    Node e = expr();
    expect(close);
    return e;
  }

  Node primary() {
    DepthGuard g(*this);
    ws();
    if (i_ >= s_.size()) throw ParseError("unexpected end");
    char p = s_[i_];
    if (is_digit(p) || (p == '.' && i_ + 1 < s_.size() && is_digit(s_[i_ + 1]))) return number();
    if (p == '(') { ++i_; return group(')'); }
    if (p == '[') { ++i_; return group(']'); }
    if (p == '{') { ++i_; return group('}'); }
    if (p == '|' && abs_depth_ == 0) {
      ++i_;
      ++abs_depth_;
      Node e = expr();
      --abs_depth_;
      expect('|');
      return mk1(NodeKind::func, std::move(e), "abs");
    }
    if (is_alpha(p)) {
      std::string_view w = plain_word_function();
      if (!w.empty()) {
        i_ += w.size();
        if (w == "sqrt") return mk2(NodeKind::pow, func_arg(), half());
        return apply_function(func_canonical(w));
      }
      if (s_.substr(i_, 2) == "pi" && (i_ + 2 >= s_.size() || !is_alpha(s_[i_ + 2]))) { i_ += 2; return mk(NodeKind::pi); }
      if (s_.substr(i_, 3) == "inf" ) {
        std::size_t j = i_;
        while (j < s_.size() && is_alpha(s_[j])) ++j;
        std::string_view w2 = s_.substr(i_, j - i_);
        if (w2 == "inf" || w2 == "infty" || w2 == "infinity") { i_ = j; return mk(NodeKind::inf); }
      }
      // A run of 4+ letters is a word (a name, prose), not a product of variables: "Evelyn" must never equal
      // its anagrams.
      std::size_t j = i_;
      while (j < s_.size() && is_alpha(s_[j])) ++j;
      if (j - i_ >= 4) throw ParseError("word '" + std::string(s_.substr(i_, j - i_)) + "'");
      ++i_;
      return symbol_or_const(std::string(1, p));
    }
    if (p == '\\') return command();
    throw ParseError(std::string("unexpected '") + p + "'");
  }

  static Node half() { return mk2(NodeKind::div, mk(NodeKind::num, "1"), mk(NodeKind::num, "2")); }

  Node number() {
    std::size_t j = i_;
    while (j < s_.size() && is_digit(s_[j])) ++j;
    bool dec = false;
    if (j < s_.size() && s_[j] == '.' && j + 1 < s_.size() && is_digit(s_[j + 1])) {
      dec = true;
      ++j;
      while (j < s_.size() && is_digit(s_[j])) ++j;
    }
    Node n = mk(NodeKind::num, std::string(s_.substr(i_, j - i_)));
    if (n.text.front() == '.') n.text.insert(n.text.begin(), '0');
    n.decimal = dec;
    i_ = j;
    if (n.text.size() > 5000) throw ParseError("number literal too long");
    // Scientific notation: 1.5e10, 2E-3.
    if (i_ + 1 < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
      std::size_t k = i_ + 1;
      bool neg = false;
      if (s_[k] == '+' || s_[k] == '-') { neg = s_[k] == '-'; ++k; }
      if (k < s_.size() && is_digit(s_[k])) {
        std::size_t m = k;
        while (m < s_.size() && is_digit(s_[m])) ++m;
        Node ex = mk(NodeKind::num, std::string(s_.substr(k, m - k)));
        if (neg) ex = mk1(NodeKind::neg, std::move(ex));
        i_ = m;
        n = mk2(NodeKind::mul, std::move(n), mk2(NodeKind::pow, mk(NodeKind::num, "10"), std::move(ex)));
        n.decimal = true;
      }
    }
    return n;
  }

  Node command() {
    std::string_view c = peek_cmd();
    if (c.empty()) throw ParseError("stray backslash");
    std::string name(c);
    take_cmd(c);
    if (name == "frac") { Node a = arg(); Node b = arg(); return mk2(NodeKind::div, std::move(a), std::move(b)); }
    if (name == "binom") { Node a = arg(); Node b = arg(); return mk2(NodeKind::binom, std::move(a), std::move(b)); }
    if (name == "sqrt") {
      if (peek() == '[') {
        ++i_;
        Node n = expr();
        expect(']');
        Node x = arg();
        return mk2(NodeKind::pow, std::move(x), mk2(NodeKind::div, mk(NodeKind::num, "1"), std::move(n)));
      }
      return mk2(NodeKind::pow, arg(), half());
    }
    if (name == "pi") return mk(NodeKind::pi);
    if (name == "infty" || name == "infin" || name == "infinity") return mk(NodeKind::inf);
    if (name == "imath") return mk(NodeKind::imag);
    if (name == "e") return mk(NodeKind::e);
    if (is_func_name(name)) return apply_function(func_canonical(name));
    if (name == "operatorname") {
      std::size_t k = i_;
      ws();
      k = i_;
      if (k >= s_.size() || s_[k] != '{') throw ParseError("operatorname without name");
      std::string fn(trim(brace_group(s_, k)));
      i_ = k;
      if (is_func_name(fn)) return apply_function(func_canonical(fn));
      return subscript(fn);
    }
    if (is_greek(name)) return subscript(name);
    if (name == "lfloor" || name == "lceil") {
      Node e = expr();
      std::string_view close = peek_cmd();
      if (close != (name == "lfloor" ? "rfloor" : "rceil")) throw ParseError("unclosed floor/ceil");
      take_cmd(close);
      return mk1(NodeKind::func, std::move(e), name == "lfloor" ? "floor" : "ceil");
    }
    if (name == "lvert" || name == "vert" || name == "|") {
      ++abs_depth_;
      Node e = expr();
      --abs_depth_;
      std::string_view close = peek_cmd();
      if (close != "rvert" && close != "vert" && close != "|") throw ParseError("unclosed abs");
      take_cmd(close);
      return mk1(NodeKind::func, std::move(e), "abs");
    }
    if (name == "{" || name == "lbrace") throw ParseError("set inside an expression");
    throw ParseError("unsupported command \\" + name);
  }
};

}  // namespace

std::optional<Node> parse_expr(std::string_view latex, std::string* error, const ParseLimits& limits) {
  if (latex.size() > limits.max_length) {
    if (error) *error = "input too long";
    return std::nullopt;
  }
  std::string_view t = trim(latex);
  if (t.empty()) {
    if (error) *error = "empty";
    return std::nullopt;
  }
  try {
    Parser p(t, limits);
    return p.parse_all();
  } catch (const ParseError& e) {
    if (error) *error = e.what();
  } catch (const std::exception& e) {
    if (error) *error = std::string("parser failure: ") + e.what();
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------------------------
// Printing and queries.

namespace {
void print(const Node& n, std::string& out) {
  auto paren = [&](const Node& k) {
    bool atom = k.kind == NodeKind::num || k.kind == NodeKind::sym || k.kind == NodeKind::pi ||
                k.kind == NodeKind::e || k.kind == NodeKind::imag || k.kind == NodeKind::inf ||
                k.kind == NodeKind::func;
    if (!atom) out += '(';
    print(k, out);
    if (!atom) out += ')';
  };
  switch (n.kind) {
    case NodeKind::num: out += n.text; break;
    case NodeKind::sym: out += n.text; break;
    case NodeKind::pi: out += "pi"; break;
    case NodeKind::e: out += "e"; break;
    case NodeKind::imag: out += "i"; break;
    case NodeKind::inf: out += "oo"; break;
    case NodeKind::add:
      for (std::size_t k = 0; k < n.kids.size(); ++k) {
        if (k && n.kids[k].kind != NodeKind::neg) out += '+';
        print(n.kids[k], out);
      }
      break;
    case NodeKind::mul:
      for (std::size_t k = 0; k < n.kids.size(); ++k) {
        if (k) out += '*';
        paren(n.kids[k]);
      }
      break;
    case NodeKind::div: paren(n.kids[0]); out += '/'; paren(n.kids[1]); break;
    case NodeKind::pow: paren(n.kids[0]); out += '^'; paren(n.kids[1]); break;
    case NodeKind::neg: out += '-'; paren(n.kids[0]); break;
    case NodeKind::func:
      out += n.text;
      out += '(';
      for (std::size_t k = 0; k < n.kids.size(); ++k) {
        if (k) out += ',';
        print(n.kids[k], out);
      }
      out += ')';
      break;
    case NodeKind::fact: paren(n.kids[0]); out += '!'; break;
    case NodeKind::binom: out += "binom("; print(n.kids[0], out); out += ','; print(n.kids[1], out); out += ')'; break;
    case NodeKind::pm: paren(n.kids[0]); out += "+-"; paren(n.kids[1]); break;
  }
}
}  // namespace

std::string to_string(const Node& n) {
  std::string out;
  print(n, out);
  return out;
}

bool has_symbols(const Node& n) {
  if (n.kind == NodeKind::sym) return true;
  for (const auto& k : n.kids) if (has_symbols(k)) return true;
  return false;
}

std::size_t node_count(const Node& n) {
  std::size_t c = 1;
  for (const auto& k : n.kids) c += node_count(k);
  return c;
}

// ---------------------------------------------------------------------------------------------------------------
// Structures.
namespace {

// Does the bracket opened at s[0] close exactly at the last character?
bool outer_pair(std::string_view s, std::size_t open_len, std::size_t close_len) {
  int depth = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '\\' && i + 1 < s.size()) {
      char d = s[i + 1];
      if (d == '{' || d == '(' || d == '[') ++depth;
      else if (d == '}' || d == ')' || d == ']') {
        if (--depth == 0 && i + 2 < s.size()) return false;
        if (depth == 0) return i + close_len == s.size();
      }
      ++i;
      continue;
    }
    if (c == '{' || c == '(' || c == '[') ++depth;
    else if (c == '}' || c == ')' || c == ']') {
      if (--depth == 0) return i + close_len == s.size();
    }
    (void)open_len;
  }
  return false;
}

Value text_value(std::string_view src, std::string err) {
  Value v;
  v.kind = ValueKind::text;
  v.source = std::string(src);
  v.error = std::move(err);
  return v;
}

Value expr_value(std::string_view s, const ParseLimits& lim) {
  std::string err;
  auto n = parse_expr(s, &err, lim);
  if (!n) return text_value(s, err);
  Value v;
  v.kind = ValueKind::expr;
  v.expr = std::move(*n);
  v.source = std::string(s);
  return v;
}

Value parse_value_rec(std::string_view s, const ParseLimits& lim, int depth);

std::vector<Value> parse_items(const std::vector<std::string>& parts, const ParseLimits& lim, int depth) {
  std::vector<Value> items;
  items.reserve(parts.size());
  for (const auto& p : parts) items.push_back(parse_value_rec(trim(p), lim, depth + 1));
  return items;
}

// Finds top-level relation operators. Returns positions and op strings ("~" for \approx).
struct RelOp { std::size_t pos, len; std::string op; };
std::vector<RelOp> relations(std::string_view s) {
  std::vector<RelOp> ops;
  int depth = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '\\' && i + 1 < s.size()) {
      char d = s[i + 1];
      if (d == '{' || d == '(' || d == '[') ++depth;
      else if (d == '}' || d == ')' || d == ']') --depth;
      else if (depth == 0 && s.compare(i, 7, "\\approx") == 0 && (i + 7 >= s.size() || !is_alpha(s[i + 7]))) {
        ops.push_back({i, 7, "~"});
        i += 6;
        continue;
      }
      ++i;
      continue;
    }
    if (c == '{' || c == '(' || c == '[') { ++depth; continue; }
    if (c == '}' || c == ')' || c == ']') { --depth; continue; }
    if (depth != 0) continue;
    if ((c == '<' || c == '>' || c == '!') && i + 1 < s.size() && s[i + 1] == '=') {
      ops.push_back({i, 2, std::string(s.substr(i, 2))});
      ++i;
    } else if (c == '<' || c == '>') {
      ops.push_back({i, 1, std::string(1, c)});
    } else if (c == '=') {
      if (i + 1 < s.size() && s[i + 1] == '=') {  // "==" is one equals sign
        ops.push_back({i, 2, "="});
        ++i;
      } else {
        ops.push_back({i, 1, "="});
      }
    }
  }
  return ops;
}

// Top-level positions of single ':' (ratios "3:7", times "12:00"), not "::" or ":=".
std::vector<std::size_t> colons(std::string_view s) {
  std::vector<std::size_t> at;
  int depth = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '\\' && i + 1 < s.size()) { ++i; continue; }
    if (c == '{' || c == '(' || c == '[') ++depth;
    else if (c == '}' || c == ')' || c == ']') --depth;
    else if (c == ':' && depth == 0) {
      if ((i + 1 < s.size() && (s[i + 1] == ':' || s[i + 1] == '=')) || (i > 0 && s[i - 1] == ':')) return {};
      at.push_back(i);
    }
  }
  return at;
}

bool is_lone_symbol(const Value& v) { return v.kind == ValueKind::expr && v.expr.kind == NodeKind::sym; }

Node neg_inf() { Node n; n.kind = NodeKind::neg; Node i; i.kind = NodeKind::inf; n.kids.push_back(i); return n; }
Node pos_inf() { Node i; i.kind = NodeKind::inf; return i; }

Value interval(Node lo, Node hi, char open, char close, std::string src) {
  Value v;
  v.kind = ValueKind::interval;
  v.open = open;
  v.close = close;
  Value a; a.kind = ValueKind::expr; a.expr = std::move(lo);
  Value b; b.kind = ValueKind::expr; b.expr = std::move(hi);
  v.items.push_back(std::move(a));
  v.items.push_back(std::move(b));
  v.source = std::move(src);
  return v;
}

// A variable of an inequality: a lone symbol or a name such as "f(x)" (not a number, not an arithmetic term).
bool is_variable(const Value& v) {
  if (v.kind == ValueKind::expr && v.expr.kind == NodeKind::func && v.expr.text == "abs") return false;  // |z|
  return is_lone_symbol(v) || (v.kind == ValueKind::expr && has_symbols(v.expr) && name_like(v.source));
}

// The rows of a matrix-like environment body ("a & b \\ c & d"); empty rows (a trailing "\\") are dropped.
std::vector<std::string> env_rows(std::string_view body) {
  std::vector<std::string> rows;
  std::size_t start = 0;
  for (std::size_t i = 0; i + 1 < body.size(); ++i) {
    if (body[i] == '\\' && body[i + 1] == '\\') {
      rows.emplace_back(body.substr(start, i - start));
      start = i + 2;
      ++i;
    }
  }
  rows.emplace_back(body.substr(start));
  rows.erase(std::remove_if(rows.begin(), rows.end(), [](const std::string& r) { return trim(r).empty(); }),
             rows.end());
  return rows;
}

// "\begin{env}...\end{env}" spanning all of s: the env name and body, else nullopt.
std::optional<std::pair<std::string, std::string_view>> whole_env(std::string_view s) {
  if (s.compare(0, 7, "\\begin{") != 0) return std::nullopt;
  std::size_t k = 6;
  std::string env(brace_group(s, k));
  std::string endtag = "\\end{" + env + "}";
  std::size_t e = s.rfind(endtag);
  if (e == std::string_view::npos || e < k || !trim(s.substr(e + endtag.size())).empty()) return std::nullopt;
  if (s.find("\\begin{", 7) != std::string_view::npos && s.find("\\begin{", 7) < e) {
    // a nested environment: the first \end must be ours only if the nesting closes in order; keep it simple
    if (s.find(endtag) != e) return std::nullopt;
  }
  std::string_view body = s.substr(k, e - k);
  if (env == "array" && !trim(body).empty() && trim(body).front() == '{') {
    body = trim(body);
    std::size_t q = 0;
    brace_group(body, q);
    body = body.substr(q);
  }
  return std::make_pair(env, body);
}

Value matrix_value(std::string_view s, std::string_view body, const ParseLimits& lim) {
  Value m;
  m.kind = ValueKind::matrix;
  m.source = std::string(s);
  for (const auto& r : env_rows(body)) {
    auto cells = split_top_level(r, '&');
    if (m.cols == 0) m.cols = static_cast<int>(cells.size());
    if (static_cast<int>(cells.size()) != m.cols) return text_value(s, "ragged matrix");
    for (const auto& c : cells) {
      Value cv = expr_value(trim(c), lim);
      if (cv.kind != ValueKind::expr) return text_value(s, "bad matrix entry: " + cv.error);
      m.items.push_back(std::move(cv));
    }
    ++m.rows;
  }
  if (m.rows == 0) return text_value(s, "empty matrix");
  return m;
}

bool matrix_env(std::string_view env) {
  return env == "pmatrix" || env == "bmatrix" || env == "Bmatrix" || env == "matrix" || env == "array" ||
         env == "smallmatrix";
}

// Sums and products of written-out matrices ("A + B", "A B", "A \cdot B"): the resulting matrix, its entries
// built as expression trees. nullopt when s is not such an expression.
std::optional<Value> matrix_expression(std::string_view s, const ParseLimits& lim) {
  std::vector<Value> mats;
  std::vector<char> ops;  // between mats: '+', '-', '*'
  std::size_t i = 0;
  for (;;) {
    std::size_t b = s.find("\\begin{", i);
    std::string_view gap = trim(s.substr(i, b == std::string_view::npos ? std::string_view::npos : b - i));
    if (mats.empty()) {
      if (!gap.empty() || b == std::string_view::npos) return std::nullopt;
    } else if (b == std::string_view::npos) {
      if (!gap.empty()) return std::nullopt;
      break;
    } else {
      if (gap.empty() || gap == "\\cdot" || gap == "\\times" || gap == "*") ops.push_back('*');
      else if (gap == "+") ops.push_back('+');
      else if (gap == "-") ops.push_back('-');
      else return std::nullopt;
    }
    std::size_t k = b + 6;
    std::string env(brace_group(s, k));
    if (!matrix_env(env)) return std::nullopt;
    std::string endtag = "\\end{" + env + "}";
    std::size_t e = s.find(endtag, k);
    if (e == std::string_view::npos) return std::nullopt;
    auto whole = whole_env(s.substr(b, e + endtag.size() - b));
    if (!whole) return std::nullopt;
    Value m = matrix_value(s.substr(b, e + endtag.size() - b), whole->second, lim);
    if (m.kind != ValueKind::matrix || m.rows > 10 || m.cols > 10) return std::nullopt;
    mats.push_back(std::move(m));
    i = e + endtag.size();
    if (mats.size() > 8) return std::nullopt;
  }
  if (mats.size() < 2) return std::nullopt;
  auto entry = [](const Value& m, int r, int c) -> const Node& { return m.items[static_cast<std::size_t>(r * m.cols + c)].expr; };
  auto product = [&](const Value& a, const Value& b) -> std::optional<Value> {
    if (a.cols != b.rows) return std::nullopt;
    Value p;
    p.kind = ValueKind::matrix;
    p.rows = a.rows;
    p.cols = b.cols;
    for (int r = 0; r < a.rows; ++r) {
      for (int c = 0; c < b.cols; ++c) {
        Node sum = mk(NodeKind::add);
        for (int k2 = 0; k2 < a.cols; ++k2) sum.kids.push_back(mk2(NodeKind::mul, entry(a, r, k2), entry(b, k2, c)));
        Value v;
        v.kind = ValueKind::expr;
        v.expr = sum.kids.size() == 1 ? sum.kids[0] : sum;
        v.source = to_string(v.expr);
        p.items.push_back(std::move(v));
      }
    }
    return p;
  };
  // products first, then sums left to right
  std::vector<Value> terms{mats[0]};
  std::vector<char> signs{'+'};
  for (std::size_t k2 = 0; k2 < ops.size(); ++k2) {
    if (ops[k2] == '*') {
      auto p = product(terms.back(), mats[k2 + 1]);
      if (!p) return std::nullopt;
      // products of symbolic matrices grow geometrically: keep the trees small (the parser's own bound)
      std::size_t nodes = 0;
      for (const auto& it : p->items) nodes += node_count(it.expr);
      if (nodes > 20000) return std::nullopt;
      terms.back() = std::move(*p);
    } else {
      terms.push_back(mats[k2 + 1]);
      signs.push_back(ops[k2]);
    }
  }
  Value r = terms[0];
  for (std::size_t t = 1; t < terms.size(); ++t) {
    if (terms[t].rows != r.rows || terms[t].cols != r.cols) return std::nullopt;
    for (std::size_t e = 0; e < r.items.size(); ++e) {
      Node rhs = terms[t].items[e].expr;
      if (signs[t] == '-') rhs = mk1(NodeKind::neg, std::move(rhs));
      r.items[e].expr = mk2(NodeKind::add, r.items[e].expr, std::move(rhs));
      r.items[e].source = to_string(r.items[e].expr);
    }
  }
  r.source = std::string(s);
  return r;
}

// "p=5, q=2, p=7, q=2": assignments whose names repeat with a period k >= 2 are the list of k-tuples (5,2), (7,2).
void group_assignments(Value& list) {
  std::size_t n = list.items.size();
  if (n < 4) return;
  std::vector<std::string> names;
  for (const auto& it : list.items) {
    if (it.kind != ValueKind::equation || !name_like(it.items[0].source)) return;
    std::string nm;
    for (char ch : it.items[0].source) if (!is_space(ch)) nm += ch;
    names.push_back(nm);
  }
  for (std::size_t k = 2; k <= n / 2; ++k) {
    if (n % k) continue;
    bool distinct = true;
    for (std::size_t a = 0; a < k && distinct; ++a)
      for (std::size_t b = a + 1; b < k; ++b) distinct &= names[a] != names[b];
    if (!distinct) continue;
    bool periodic = true;
    for (std::size_t i = k; i < n && periodic; ++i) periodic = names[i] == names[i % k];
    if (!periodic) continue;
    std::vector<Value> tuples;
    for (std::size_t i = 0; i < n; i += k) {
      Value t;
      t.kind = ValueKind::tuple;
      t.open = '(';
      t.close = ')';
      for (std::size_t j = i; j < i + k; ++j) t.items.push_back(std::move(list.items[j].items[1]));
      tuples.push_back(std::move(t));
    }
    list.items = std::move(tuples);
    return;
  }
}

Value parse_value_rec(std::string_view s, const ParseLimits& lim, int depth) {
  s = trim(s);
  if (s.empty()) return text_value(s, "empty");
  if (depth > 20) return text_value(s, "structure nesting too deep");
  if (s.size() > lim.max_length) return text_value(s.substr(0, 200), "input too long");

  // Whole answer wrapped in a plain brace group.
  if (s.front() == '{' && outer_pair(s, 1, 1)) return parse_value_rec(s.substr(1, s.size() - 2), lim, depth + 1);

  // "x \in [1,2]", "(x, y) \in \{(1,2)\}" -> the set.
  if (auto pos = s.find("\\in"); pos != std::string_view::npos && pos > 0 && pos + 3 < s.size() &&
                                  !is_alpha(s[pos + 3])) {
    std::string_view lhs = trim(s.substr(0, pos));
    if (lhs.size() <= 24 && name_like(lhs)) return parse_value_rec(s.substr(pos + 3), lim, depth + 1);
  }

  // Matrices, vectors and systems.
  if (auto env = whole_env(s)) {
    const std::string& name = env->first;
    auto rows = env_rows(env->second);
    if (name == "cases" || name == "aligned" || name == "align" || name == "align*" || name == "gathered") {
      // A system: the list of its rows (a row's condition after '&' is dropped, "&=" alignment kept).
      std::vector<std::string> parts;
      for (const auto& r : rows) {
        std::string row;
        for (const auto& cell : split_top_level(r, '&')) row += cell;
        if (name == "cases") row = split_top_level(r, '&').front();
        parts.push_back(row);
      }
      if (parts.empty()) return text_value(s, "empty system");
      if (parts.size() == 1) return parse_value_rec(parts[0], lim, depth + 1);
      Value v;
      v.kind = ValueKind::list;
      v.source = std::string(s);
      v.items = parse_items(parts, lim, depth);
      return v;
    }
    return matrix_value(s, env->second, lim);
  }
  if (s.compare(0, 7, "\\begin{") == 0) {
    if (auto m = matrix_expression(s, lim)) return *m;
  }
  // "[\begin{array}...\end{array}]", "(\begin{pmatrix}...\end{pmatrix})": brackets around a matrix.
  if ((s.front() == '(' || s.front() == '[') && (s.back() == ')' || s.back() == ']') && outer_pair(s, 1, 1)) {
    std::string_view inner = trim(s.substr(1, s.size() - 2));
    if (whole_env(inner)) return parse_value_rec(inner, lim, depth + 1);
  }

  // Unions.
  {
    std::vector<std::string> parts;
    int d = 0;
    std::size_t start = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
      char c = s[i];
      if (c == '\\') {
        if (d == 0 && s.compare(i, 4, "\\cup") == 0 && (i + 4 >= s.size() || !is_alpha(s[i + 4]))) {
          parts.emplace_back(s.substr(start, i - start));
          start = i + 4;
          i += 3;
          continue;
        }
        if (i + 1 < s.size()) {
          char n2 = s[i + 1];
          if (n2 == '{' || n2 == '(' || n2 == '[') ++d;
          else if (n2 == '}' || n2 == ')' || n2 == ']') --d;
          ++i;
        }
        continue;
      }
      if (c == '{' || c == '(' || c == '[') ++d;
      else if (c == '}' || c == ')' || c == ']') --d;
    }
    if (!parts.empty()) {
      parts.emplace_back(s.substr(start));
      Value u;
      u.kind = ValueKind::uni;
      u.source = std::string(s);
      u.items = parse_items(parts, lim, depth);
      return u;
    }
  }

  // Sets \{ ... \}.
  if (s.size() >= 4 && s.compare(0, 2, "\\{") == 0 && s.compare(s.size() - 2, 2, "\\}") == 0 && outer_pair(s, 2, 2)) {
    std::string_view inner = s.substr(2, s.size() - 4);
    Value v;
    v.kind = ValueKind::set;
    v.source = std::string(s);
    auto parts = split_top_level(inner, ',');
    if (parts.size() < 2) parts = split_top_level(inner, ';');
    if (!trim(inner).empty()) v.items = parse_items(parts, lim, depth);
    return v;
  }

  // Bracketed tuples and intervals ("(1, 2)", "[0, 1)", "(0; -2; 6)").
  if ((s.front() == '(' || s.front() == '[') && (s.back() == ')' || s.back() == ']') && outer_pair(s, 1, 1)) {
    std::string_view inner = s.substr(1, s.size() - 2);
    auto parts = split_top_level(inner, ',');
    if (parts.size() < 2) parts = split_top_level(inner, ';');
    if (parts.size() >= 2) {
      Value v;
      v.kind = ValueKind::tuple;
      v.open = s.front();
      v.close = s.back();
      v.source = std::string(s);
      v.items = parse_items(parts, lim, depth);
      if (parts.size() == 2 && (v.open != '(' || v.close != ')')) v.kind = ValueKind::interval;
      return v;
    }
  }

  // Bare comma / semicolon lists. With both, ';' separates groups: "p=5, q=2; p=7, q=2" is the list of the tuples
  // (5, 2), (7, 2) when every group assigns names in the same order.
  {
    auto semi = split_top_level(s, ';');
    auto parts = split_top_level(s, ',');
    if (semi.size() >= 2 && parts.size() >= 2) {
      Value v;
      v.kind = ValueKind::list;
      v.source = std::string(s);
      v.items = parse_items(semi, lim, depth);
      for (auto& g : v.items) {
        if (g.kind != ValueKind::list) continue;
        bool assigns = std::all_of(g.items.begin(), g.items.end(), [](const Value& x) {
          return x.kind == ValueKind::equation && name_like(x.items[0].source);
        });
        if (!assigns) continue;
        Value t;
        t.kind = ValueKind::tuple;
        t.open = '(';
        t.close = ')';
        t.source = g.source;
        for (auto& e : g.items) t.items.push_back(std::move(e.items[1]));
        g = std::move(t);
      }
      return v;
    }
    if (parts.size() < 2) parts = std::move(semi);
    if (parts.size() >= 2) {
      bool all_nonempty = std::all_of(parts.begin(), parts.end(), [](const std::string& p) { return !trim(p).empty(); });
      if (!all_nonempty) return text_value(s, "empty list element");
      Value v;
      v.kind = ValueKind::list;
      v.source = std::string(s);
      v.items = parse_items(parts, lim, depth);
      group_assignments(v);
      return v;
    }
  }

  // Equations and inequalities.
  auto rel = relations(s);
  if (!rel.empty()) {
    std::vector<std::string> pieces;
    std::vector<std::string> ops;
    std::size_t start = 0;
    for (const auto& r : rel) {
      pieces.emplace_back(s.substr(start, r.pos - start));
      ops.push_back(r.op);
      start = r.pos + r.len;
    }
    pieces.emplace_back(s.substr(start));
    // \approx: "x = 1/3 \approx 0.33" keeps the exact side (cut at the first \approx after an '='); without an
    // exact side, "x \approx 11" reads as x = 11.
    if (auto t = std::find(ops.begin(), ops.end(), "~"); t != ops.end()) {
      std::size_t ti = static_cast<std::size_t>(t - ops.begin());
      bool exact_before = std::find(ops.begin(), t, "=") != t;
      if (exact_before) {
        ops.resize(ti);
        pieces.resize(ti + 1);
      } else {
        for (auto& o : ops) if (o == "~") o = "=";
      }
    }
    if (std::any_of(pieces.begin(), pieces.end(), [](const std::string& p) { return trim(p).empty(); }))
      return text_value(s, "relation with an empty side");
    std::vector<Value> items;
    for (const auto& p : pieces) {
      Value pv = parse_value_rec(trim(p), lim, depth + 1);
      items.push_back(std::move(pv));
    }
    bool all_expr = std::all_of(items.begin(), items.end(), [](const Value& x) { return x.kind == ValueKind::expr; });
    bool only_eq = std::all_of(ops.begin(), ops.end(), [](const std::string& o) { return o == "="; });
    if (only_eq) {
      // A chain "x = 5 + 6 = 11" is the equation between its first and last sides (the middle is working).
      Value v;
      v.kind = ValueKind::equation;
      v.source = std::string(s);
      v.chain = items.size() > 2;
      v.items.push_back(std::move(items.front()));
      v.items.push_back(std::move(items.back()));
      return v;
    }
    if (!all_expr) return text_value(s, "bad relation");
    bool has_eq = std::find(ops.begin(), ops.end(), "=") != ops.end();
    if (has_eq) return text_value(s, "mixed relation");
    // Convert single-variable inequalities into intervals.
    auto lower = [](const std::string& o) { return o == "<" || o == "<="; };
    if (items.size() == 2) {
      if (is_lone_symbol(items[0]) && ops[0] != "!=") {
        bool lt = lower(ops[0]);
        bool strict = ops[0].size() == 1;
        if (lt) return interval(neg_inf(), items[1].expr, '(', strict ? ')' : ']', std::string(s));
        return interval(items[1].expr, pos_inf(), strict ? '(' : '[', ')', std::string(s));
      }
      if (is_lone_symbol(items[1]) && ops[0] != "!=") {
        bool lt = lower(ops[0]);  // a < x
        bool strict = ops[0].size() == 1;
        if (lt) return interval(items[0].expr, pos_inf(), strict ? '(' : '[', ')', std::string(s));
        return interval(neg_inf(), items[0].expr, '(', strict ? ')' : ']', std::string(s));
      }
    }
    if (items.size() == 3 && is_variable(items[1]) && ops[0] != "!=" && ops[1] != "!=" &&
        lower(ops[0]) == lower(ops[1])) {
      bool lt = lower(ops[0]);
      if (lt)
        return interval(items[0].expr, items[2].expr, ops[0].size() == 1 ? '(' : '[', ops[1].size() == 1 ? ')' : ']',
                        std::string(s));
      return interval(items[2].expr, items[0].expr, ops[1].size() == 1 ? '(' : '[', ops[0].size() == 1 ? ')' : ']',
                      std::string(s));
    }
    Value v;
    v.kind = ValueKind::relation;
    v.source = std::string(s);
    v.items = std::move(items);
    v.ops = std::move(ops);
    return v;
  }

  // Ratios and times: "3:7", "S_1:S_2" (a name), "12:00".
  if (auto at = colons(s); !at.empty()) {
    std::vector<std::string> parts;
    std::size_t start = 0;
    for (std::size_t p : at) {
      parts.emplace_back(trim(s.substr(start, p - start)));
      start = p + 1;
    }
    parts.emplace_back(trim(s.substr(start)));
    if (std::none_of(parts.begin(), parts.end(), [](const std::string& p) { return p.empty(); })) {
      Value v;
      v.kind = ValueKind::ratio;
      v.source = std::string(s);
      for (const auto& p : parts) {
        Value e = expr_value(p, lim);
        if (e.kind != ValueKind::expr) return text_value(s, "bad ratio: " + e.error);
        v.items.push_back(std::move(e));
      }
      return v;
    }
  }

  return expr_value(s, lim);
}

}  // namespace

bool name_like(std::string_view s) {
  s = trim(s);
  if (s.empty() || s.size() > 64) return false;
  static const std::string_view kNameCommands[] = {"frac", "overline", "angle", "mathrm", "text", "operatorname",
                                                   "vert", "lvert", "rvert", "prime", "triangle", "measuredangle",
                                                   "widehat", "hat", "bar", "vec", "overrightarrow", "mathbf"};
  bool letter = false;
  int call_depth = 0;  // inside the parentheses of a function call "f(2)": digits allowed
  int depth = 0;
  for (std::size_t i = 0; i < s.size();) {
    char c = s[i];
    if (c == '_') {  // a subscript, digits allowed: x_1, a_{37}
      ++i;
      while (i < s.size() && is_space(s[i])) ++i;
      if (i < s.size() && s[i] == '{') brace_group(s, i);
      else if (i < s.size()) ++i;
      continue;
    }
    if (c == '\\') {
      std::size_t j = i + 1;
      while (j < s.size() && is_alpha(s[j])) ++j;
      std::string_view name = s.substr(i + 1, j - i - 1);
      if (name.empty()) {
        if (j < s.size() && (s[j] == '|' || s[j] == '{' || s[j] == '}')) { i = j + 1; continue; }
        return false;
      }
      static const std::string_view kValueCommands[] = {
          "sqrt", "cdot", "times", "div", "pm", "mp", "sum", "prod", "int", "lim", "infty", "infin", "pi", "le",
          "ge", "leq", "geq", "neq", "ne", "approx", "in", "cup", "cap", "log", "ln", "exp", "binom", "begin", "end",
          "left", "right", "degree", "circ", "dots", "ldots", "cdots", "emptyset", "varnothing", "sin", "cos", "tan",
          "sec", "csc", "cot", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "lfloor", "rfloor", "lceil",
          "rceil", "to", "mapsto", "imath", "e"};
      bool ok = is_greek(name) ||
                std::find(std::begin(kNameCommands), std::end(kNameCommands), name) != std::end(kNameCommands) ||
                std::find(std::begin(kValueCommands), std::end(kValueCommands), name) == std::end(kValueCommands);
      if (!ok) return false;
      if (ok && std::find(std::begin(kNameCommands), std::end(kNameCommands), name) == std::end(kNameCommands))
        letter = true;  // a Greek letter or another symbol command (\k, \ell)
      i = j;
      continue;
    }
    if (is_alpha(c)) { letter = true; ++i; continue; }
    if (c == '(') {
      bool call = i > 0 && (is_alpha(s[i - 1]) || s[i - 1] == '}');
      ++depth;
      if (call || call_depth > 0) ++call_depth;
      ++i;
      continue;
    }
    if (c == ')') {
      if (depth > 0) --depth;
      if (call_depth > 0) --call_depth;
      ++i;
      continue;
    }
    if (is_digit(c)) {
      if (call_depth == 0) return false;
      ++i;
      continue;
    }
    if (c == ',' || c == ':' || c == '/' || c == '|' || c == '{' || c == '}' || c == '[' || c == ']' || c == '\'' ||
        is_space(c)) {
      ++i;
      continue;
    }
    return false;
  }
  return letter;
}

Value parse_value(std::string_view latex, const ParseLimits& limits) {
  if (latex.size() > limits.max_length) return text_value(latex.substr(0, 200), "input too long");
  try {
    std::string cleaned = clean_latex(latex);
    return parse_value_rec(cleaned, limits, 0);
  } catch (const std::exception& e) {
    return text_value(latex.substr(0, std::min<std::size_t>(latex.size(), 2000)), std::string("parse failure: ") + e.what());
  }
}

}  // namespace reval::answer
