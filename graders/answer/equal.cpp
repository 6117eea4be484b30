// The equivalence ladder (see math.hpp): normalised string -> plain exact numbers -> structures whose leaves are
// expressions compared by (identical print, exact rationals, decimal rounding, GiNaC on the CAS worker). Every
// comparison shares one deadline (options.timeout_s from the start of math_equal). Structure rules:
// * equation vs non-equation: a name on the left ("x", "f(x)", "(p, q)", "|AB|", "S_1:S_2") is dropped ("x = 5" vs
//   "5"); a prediction whose left side is a constant computation ("5 + 6 = 11") is its last side; a gold equation
//   with an expression on the left ("2x + z = 1") never equals its right side alone;
// * chains "x = 5 + 6 = 11" are their first and last sides; "a = b \approx c" keeps the exact b;
// * two equations: same name (or y vs f(x)) on the left -> compare right-hand sides, else lhs-rhs proportional;
// * bare lists, sets and unions compare as sets (every item matches one on the other side, both ways), pairing
//   structurally identical items first so that long lists stay fast; lists over max_set_items are not compared;
// * tuples and intervals compare bracket kinds and items in order; a gold "(a, b)" also accepts a bare "a, b";
//   an n x 1 or 1 x n matrix also matches an n-tuple or a two-item bracket;
// * inequalities in one variable become intervals or unions ("-x > -1" = "x < 1" = "(-\infty, 1)",
//   "2 \le |z| \le 5" = "[-5,-2] \cup [2,5]");
// * ratios "3:7" compare part by part (or as a proportion); a two-part ratio also equals the quotient;
// * an expression with \pm is the set of its expansions ("\pm 2" = "2, -2" but != "2"); at most 4 \pm signs;
// * text (unparseable) compares only as a normalised string: never a number guessed from inside it.
#include <algorithm>
#include <cctype>
#include <cmath>

#include "graders/answer/cas.hpp"
#include "graders/answer/latex.hpp"
#include "graders/answer/math.hpp"
#include "graders/answer/number.hpp"
#include "base/error.hpp"

namespace reval::answer {

MathOptions MathOptions::from_json(const nlohmann::json& j) {
  MathOptions o;
  if (!j.is_object()) {
    if (j.is_null()) return o;
    throw Error("math grader options must be a json object");
  }
  try {
    auto get_bool = [&](const char* k, bool& v) { if (j.contains(k)) v = j.at(k).get<bool>(); };
    get_bool("use_bare", o.use_bare);
    get_bool("use_final_answer", o.use_final_answer);
    get_bool("use_answer_colon", o.use_answer_colon);
    get_bool("use_last_math", o.use_last_math);
    get_bool("use_last_number", o.use_last_number);
    get_bool("percent_flex", o.percent_flex);
    get_bool("symbolic", o.symbolic);
    if (j.contains("timeout_s")) o.timeout_s = j.at("timeout_s").get<double>();
    if (j.contains("rel_tol")) o.rel_tol = j.at("rel_tol").get<double>();
    if (j.contains("numeric_points")) o.numeric_points = j.at("numeric_points").get<int>();
    get_bool("decimal_comma", o.decimal_comma);
    get_bool("ordered_lists", o.ordered_lists);
    get_bool("extract_gold", o.extract_gold);
    if (j.contains("decimal_min_digits")) o.decimal_min_digits = j.at("decimal_min_digits").get<int>();
    if (j.contains("max_set_items")) o.max_set_items = j.at("max_set_items").get<std::size_t>();
    if (j.contains("decimal_rounding")) {
      std::string m = j.at("decimal_rounding").get<std::string>();
      if (m == "exact") o.decimal_rounding = MathOptions::DecimalRounding::exact;
      else if (m == "round") o.decimal_rounding = MathOptions::DecimalRounding::round;
      else if (m == "round_or_truncate") o.decimal_rounding = MathOptions::DecimalRounding::round_or_truncate;
      else throw Error("math grader options: decimal_rounding must be \"exact\", \"round\" or \"round_or_truncate\"");
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("math grader options: ") + e.what());
  }
  if (!(o.timeout_s > 0) || o.timeout_s > 3600) throw Error("math grader options: timeout_s must be in (0, 3600]");
  if (!(o.rel_tol >= 0) || o.rel_tol > 0.1) throw Error("math grader options: rel_tol must be in [0, 0.1]");
  if (o.numeric_points < 1 || o.numeric_points > 32) throw Error("math grader options: numeric_points in [1, 32]");
  if (o.decimal_min_digits < 1 || o.decimal_min_digits > 17)
    throw Error("math grader options: decimal_min_digits in [1, 17]");
  return o;
}

namespace {

bool is_alpha(char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::string strip_spaces(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) if (!std::isspace(static_cast<unsigned char>(c))) out += c;
  return out;
}

// \frac12 -> \frac{1}{2}, \sqrt2 -> \sqrt{2}, x_{1} -> x_1 (on a space-free string).
std::string fix_shorthand(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    if (s[i] != '\\' && s[i] != '_') {
      out += s[i++];
      continue;
    }
    if (s.compare(i, 5, "\\frac") == 0 && i + 5 < s.size() && s[i + 5] != '{') {
      out += "\\frac";
      i += 5;
      for (int k = 0; k < 2 && i < s.size(); ++k) {
        if (s[i] == '{') break;
        out += '{';
        out += s[i++];
        out += '}';
      }
      continue;
    }
    if (s.compare(i, 5, "\\sqrt") == 0 && i + 5 < s.size() && s[i + 5] != '{' && s[i + 5] != '[' &&
        s[i + 5] != '\\') {
      out += "\\sqrt{";
      out += s[i + 5];
      out += '}';
      i += 6;
      continue;
    }
    if (s[i] == '_' && i + 3 < s.size() + 0 && s[i + 1] == '{' && s[i + 3] == '}' &&
        std::isalnum(static_cast<unsigned char>(s[i + 2]))) {
      out += '_';
      out += s[i + 2];
      i += 4;
      continue;
    }
    out += s[i++];
  }
  return out;
}

// A percent sign, "\%", or the words percent / percentage / pct after a number.
bool has_percent(std::string_view s) {
  if (s.find('%') != std::string_view::npos) return true;
  for (std::string_view w : {"percent", "pct", "Percent"}) {
    for (std::size_t p = s.find(w); p != std::string_view::npos; p = s.find(w, p + 1)) {
      std::size_t k = p;
      while (k > 0 && (s[k - 1] == ' ' || s[k - 1] == '{' || s[k - 1] == '}')) --k;
      if (k > 0 && (is_digit(s[k - 1]) || s.substr(0, k).ends_with("\\text"))) return true;
    }
  }
  return false;
}

bool has_decimal(const Node& n) {
  if (n.decimal) return true;
  for (const auto& k : n.kids) if (has_decimal(k)) return true;
  return false;
}
int count_pm(const Node& n, int limit) {
  int c = n.kind == NodeKind::pm ? 1 : 0;
  for (const auto& k : n.kids) {
    if (c > limit) break;
    c += count_pm(k, limit - c);
  }
  return c;
}
bool has_pm(const Node& n) { return count_pm(n, 0) > 0; }
bool has_inf(const Node& n) {
  if (n.kind == NodeKind::inf) return true;
  for (const auto& k : n.kids) if (has_inf(k)) return true;
  return false;
}

constexpr int kMaxPm = 4;  // at most 2^4 = 16 expansions; more \pm signs are refused (the expansion is exponential)

// All sign choices of the \pm nodes (callers check count_pm(n) <= kMaxPm first).
std::vector<Node> expand_pm(const Node& n) {
  if (!has_pm(n)) return {n};
  if (n.kind == NodeKind::pm) {
    std::vector<Node> out;
    if (n.kids[0].kind == NodeKind::num && n.kids[0].text == "0") {  // unary \pm b
      for (const auto& b : expand_pm(n.kids[1])) {
        Node nb;
        nb.kind = NodeKind::neg;
        nb.kids = {b};
        out.push_back(b);
        out.push_back(std::move(nb));
      }
      return out;
    }
    for (const auto& a : expand_pm(n.kids[0])) {
      for (const auto& b : expand_pm(n.kids[1])) {
        Node plus;
        plus.kind = NodeKind::add;
        plus.kids = {a, b};
        Node nb;
        nb.kind = NodeKind::neg;
        nb.kids = {b};
        Node minus;
        minus.kind = NodeKind::add;
        minus.kids = {a, nb};
        out.push_back(std::move(plus));
        out.push_back(std::move(minus));
      }
    }
    return out;
  }
  std::vector<Node> acc{n};
  for (std::size_t k = 0; k < n.kids.size(); ++k) {
    if (!has_pm(n.kids[k])) continue;
    auto alts = expand_pm(n.kids[k]);
    std::vector<Node> next;
    for (const auto& base : acc) {
      for (const auto& alt : alts) {
        Node c = base;
        c.kids[k] = alt;
        next.push_back(std::move(c));
      }
    }
    acc = std::move(next);
  }
  return acc;
}

struct Ctx {
  const MathOptions& opt;
  Clock::time_point deadline;
  bool timeout = false;
  bool refused = false;
  std::string step;  // the last deciding step
  std::string note;
  bool out_of_time() {
    if (!timeout && Clock::now() > deadline) {
      timeout = true;
      step = "timeout";
      note = "budget spent comparing structures";
    }
    return timeout;
  }
};

bool eq_value(const Value& p, const Value& g, Ctx& c);

// A decimal literal as written ("0.333", "-12.50"; not 1.5e3): its exact value with places and significant digits.
std::optional<Rat> decimal_literal(const Node& n) {
  const Node* k = &n;
  if (n.kind == NodeKind::neg && n.kids.size() == 1) k = &n.kids[0];
  if (k->kind != NodeKind::num || !k->decimal) return std::nullopt;
  auto r = node_rational(n);
  if (!r || r->places < 1) return std::nullopt;
  return r;
}

// The largest relative error that the decimal literals of min_digits+ significant digits in n allow (half their
// last place).
double literal_tolerance(const Node& n, int min_digits) {
  double tol = 0;
  if (n.kind == NodeKind::num && n.decimal) {
    if (auto r = node_rational(n); r && r->places >= 1 && r->sig >= min_digits) {
      double v = std::fabs(static_cast<double>(r->approx()));
      if (v > 0) tol = 0.5 * std::pow(10.0, -r->places) / v;
    }
  }
  for (const auto& k : n.kids) tol = std::max(tol, literal_tolerance(k, min_digits));
  return tol;
}

// Rounding rule for a decimal literal `lit` against the exact `value` (see MathOptions::decimal_rounding).
bool rounding_allows(const Rat& lit, const MathOptions& o, bool* truncate) {
  if (o.decimal_rounding == MathOptions::DecimalRounding::exact || lit.sig < o.decimal_min_digits) return false;
  *truncate = o.decimal_rounding == MathOptions::DecimalRounding::round_or_truncate && lit.sig > o.decimal_min_digits;
  return true;
}

bool eq_node_single(const Node& p, const Node& g, Ctx& c) {
  if (to_string(p) == to_string(g)) { c.step = "string"; return true; }
  if (has_inf(p) || has_inf(g)) { c.step = "different"; return false; }
  auto rp = node_rational(p), rg = node_rational(g);
  auto lp = decimal_literal(p), lg = decimal_literal(g);
  bool trunc = false;
  if (rp && rg) {
    if (rat_equal(*rp, *rg)) { c.step = "exact_number"; return true; }
    if ((rp->inexact || rg->inexact) && rat_close(*rp, *rg, c.opt.rel_tol)) { c.step = "float_tolerance"; return true; }
    // The prediction is the rounded one; a gold decimal is the rounded one only against an exact prediction.
    if (lp && (!lg || lg->places > lp->places) && rounding_allows(*lp, c.opt, &trunc) &&
        rat_rounds_to(*rg, *lp, trunc)) {
      c.step = "rounded";
      return true;
    }
    if (lg && !rp->inexact && rounding_allows(*lg, c.opt, &trunc) && rat_rounds_to(*rp, *lg, trunc)) {
      c.step = "rounded";
      return true;
    }
    c.step = "exact_number";
    return false;
  }
  if (!c.opt.symbolic) { c.step = "different"; return false; }
  auto verdict = [&](const CasResult& r) {
    switch (r.verdict) {
      case CasVerdict::equal: c.step = r.step == "exact" ? "symbolic" : r.step; return true;
      case CasVerdict::different: c.step = r.step == "exact" ? "symbolic" : r.step; return false;
      case CasVerdict::timeout: c.timeout = true; c.step = "timeout"; c.note = r.note; return false;
      case CasVerdict::refused: c.refused = true; c.step = "refused"; c.note = r.note; return false;
      case CasVerdict::inconclusive: c.step = "inconclusive"; c.note = r.note; return false;
    }
    return false;
  };
  // A lone decimal against an irrational value ("1.732" vs \sqrt{3}).
  if (lp && !has_decimal(g) && !has_symbols(g) && rounding_allows(*lp, c.opt, &trunc))
    return verdict(cas_rounds_to(p, lp->places, g, trunc, c.deadline));
  if (lg && !has_decimal(p) && !has_symbols(p) && rounding_allows(*lg, c.opt, &trunc))
    return verdict(cas_rounds_to(g, lg->places, p, trunc, c.deadline));
  bool inexact = has_decimal(p) || has_decimal(g);
  if (inexact && c.opt.decimal_rounding != MathOptions::DecimalRounding::exact) {
    int md = c.opt.decimal_min_digits;
    double tol = std::min(0.01, std::max(literal_tolerance(p, md), literal_tolerance(g, md)));
    if (tol > c.opt.rel_tol) {
      MathOptions relaxed = c.opt;
      relaxed.rel_tol = tol;
      return verdict(cas_compare(p, g, CasMode::value, true, relaxed, c.deadline));
    }
  }
  return verdict(cas_compare(p, g, CasMode::value, inexact, c.opt, c.deadline));
}

std::string canonical_value(const Value& v);

// A structural key: two values with the same key are equal under eq_value (used to pair the items of long lists
// without comparing every pair). Different keys say nothing.
std::string cheap_key(const Value& v) {
  auto join = [](const std::vector<Value>& items, bool sort) {
    std::vector<std::string> parts;
    parts.reserve(items.size());
    for (const auto& i : items) parts.push_back(cheap_key(i));
    if (sort) std::sort(parts.begin(), parts.end());
    std::string s;
    for (const auto& p : parts) { s += p; s += '\x1f'; }
    return s;
  };
  switch (v.kind) {
    case ValueKind::expr: {
      if (!has_pm(v.expr)) {
        if (auto r = node_rational(v.expr)) return "N" + r->canonical();
      }
      return "E" + to_string(v.expr);
    }
    case ValueKind::tuple:
    case ValueKind::interval: return std::string(1, v.open) + join(v.items, false) + v.close;
    case ValueKind::set:
    case ValueKind::list:
    case ValueKind::uni: return "{" + join(v.items, true) + "}";
    case ValueKind::equation: return "Q" + cheap_key(v.items[0]) + "=" + cheap_key(v.items[1]);
    case ValueKind::relation: return "L" + v.source;
    case ValueKind::ratio: return "R" + join(v.items, false);
    case ValueKind::matrix: return "M" + std::to_string(v.rows) + "x" + std::to_string(v.cols) + join(v.items, false);
    case ValueKind::text: return "T" + normalize_answer(v.source);
  }
  return "T" + v.source;
}

// Set semantics: each item of a matches some item of b and vice versa. Items with equal structural keys pair up
// first (n log n); the rest are compared pairwise under the deadline.
bool set_match(const std::vector<Value>& a, const std::vector<Value>& b, Ctx& c) {
  if (a.empty() || b.empty()) return a.empty() && b.empty();
  if (a.size() > c.opt.max_set_items || b.size() > c.opt.max_set_items) {
    c.step = "too_large";
    c.note = "list of " + std::to_string(std::max(a.size(), b.size())) + " items is over max_set_items (" +
             std::to_string(c.opt.max_set_items) + "): not compared";
    return false;
  }
  std::vector<char> a_hit(a.size(), 0), b_hit(b.size(), 0);
  if (a.size() * b.size() > 16) {
    std::vector<std::pair<std::string, std::size_t>> kb;
    kb.reserve(b.size());
    for (std::size_t j = 0; j < b.size(); ++j) kb.emplace_back(cheap_key(b[j]), j);
    std::sort(kb.begin(), kb.end());
    for (std::size_t i = 0; i < a.size(); ++i) {
      std::string k = cheap_key(a[i]);
      auto it = std::lower_bound(kb.begin(), kb.end(), std::make_pair(k, std::size_t{0}));
      for (; it != kb.end() && it->first == k; ++it) {
        a_hit[i] = 1;
        b_hit[it->second] = 1;
      }
    }
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a_hit[i]) continue;
    for (std::size_t j = 0; j < b.size(); ++j) {
      if (c.out_of_time()) return false;
      if (eq_value(a[i], b[j], c)) { a_hit[i] = 1; b_hit[j] = 1; break; }
    }
    if (!a_hit[i]) return false;
  }
  for (std::size_t j = 0; j < b.size(); ++j) {
    if (b_hit[j]) continue;
    bool found = false;
    for (std::size_t i = 0; i < a.size() && !found; ++i) {
      if (c.out_of_time()) return false;
      found = eq_value(a[i], b[j], c);
    }
    if (!found) return false;
  }
  return true;
}

Value expr_of(const Node& n) {
  Value v;
  v.kind = ValueKind::expr;
  v.expr = n;
  v.source = to_string(n);
  return v;
}

bool pm_refused(const Node& n, Ctx& c) {
  int k = count_pm(n, kMaxPm);
  if (k <= kMaxPm) return false;
  c.refused = true;
  c.step = "refused";
  c.note = "more than " + std::to_string(kMaxPm) + " \\pm signs (the expansion is exponential)";
  return true;
}

bool eq_node(const Node& p, const Node& g, Ctx& c) {
  if (!has_pm(p) && !has_pm(g)) return eq_node_single(p, g, c);
  if (pm_refused(p, c) || pm_refused(g, c)) return false;
  std::vector<Value> pa, ga;
  for (const auto& n : expand_pm(p)) pa.push_back(expr_of(n));
  for (const auto& n : expand_pm(g)) ga.push_back(expr_of(n));
  bool r = set_match(pa, ga, c);
  if (r) c.step = "structure";
  return r;
}

bool is_lone_symbol(const Value& v) { return v.kind == ValueKind::expr && v.expr.kind == NodeKind::sym; }

// A left-hand side that only names the answer: "x", "y_1", "f(x)", "(p, q)", "|AB|", "S_1:S_2".
bool droppable_lhs(const Value& v) { return is_lone_symbol(v) || name_like(v.source); }

// "f(x)", "g(t)": a function name applied to arguments.
bool function_name(const Value& v) {
  std::string s = strip_spaces(v.source);
  auto open = s.find('(');
  return open != std::string::npos && open > 0 && s.back() == ')' && name_like(s);
}

// A \pm expression as a list of its expansions.
Value pm_as_list(const Value& v) {
  Value l;
  l.kind = ValueKind::list;
  for (const auto& n : expand_pm(v.expr)) l.items.push_back(expr_of(n));
  return l;
}

bool ordered_match(const std::vector<Value>& a, const std::vector<Value>& b, Ctx& c) {
  if (a.size() != b.size()) return false;
  for (std::size_t k = 0; k < a.size(); ++k)
    if (c.out_of_time() || !eq_value(a[k], b[k], c)) return false;
  return true;
}

bool unordered(ValueKind k) { return k == ValueKind::list || k == ValueKind::set || k == ValueKind::uni; }
bool bracketed(ValueKind k) { return k == ValueKind::tuple || k == ValueKind::interval; }

// ---------------------------------------------------------------------------------------------------------------
// Inequalities in one variable as intervals.

struct Lin {  // a * var + b
  Rat a, b;
};

Rat rat_int(int v) {
  Rat r;
  r.neg = v < 0;
  r.num = std::to_string(v < 0 ? -v : v);
  return r;
}

std::optional<Lin> linear(const Node& n, const std::string& var, int depth) {
  if (depth > 64) return std::nullopt;
  switch (n.kind) {
    case NodeKind::sym:
      if (n.text != var) return std::nullopt;
      return Lin{rat_int(1), rat_int(0)};
    case NodeKind::neg: {
      auto l = linear(n.kids[0], var, depth + 1);
      if (!l) return std::nullopt;
      return Lin{rat_neg(l->a), rat_neg(l->b)};
    }
    case NodeKind::add: {
      Lin acc{rat_int(0), rat_int(0)};
      for (const auto& k : n.kids) {
        auto l = linear(k, var, depth + 1);
        if (!l) return std::nullopt;
        auto a = rat_add(acc.a, l->a), b = rat_add(acc.b, l->b);
        if (!a || !b) return std::nullopt;
        acc = {*a, *b};
      }
      return acc;
    }
    case NodeKind::mul: {
      Lin acc{rat_int(0), rat_int(1)};
      for (const auto& k : n.kids) {
        auto l = linear(k, var, depth + 1);
        if (!l) return std::nullopt;
        if (rat_sign(acc.a) != 0 && rat_sign(l->a) != 0) return std::nullopt;  // x * x
        auto a1 = rat_mul(acc.a, l->b), a2 = rat_mul(acc.b, l->a), b = rat_mul(acc.b, l->b);
        if (!a1 || !a2 || !b) return std::nullopt;
        auto a = rat_add(*a1, *a2);
        if (!a) return std::nullopt;
        acc = {*a, *b};
      }
      return acc;
    }
    case NodeKind::div: {
      auto num = linear(n.kids[0], var, depth + 1), den = linear(n.kids[1], var, depth + 1);
      if (!num || !den || rat_sign(den->a) != 0 || rat_sign(den->b) == 0) return std::nullopt;
      auto a = rat_div(num->a, den->b), b = rat_div(num->b, den->b);
      if (!a || !b) return std::nullopt;
      return Lin{*a, *b};
    }
    default: {
      if (has_symbols(n)) return std::nullopt;
      auto r = node_rational(n);
      if (!r) return std::nullopt;
      return Lin{rat_int(0), *r};
    }
  }
}

void collect_symbols(const Node& n, std::vector<std::string>& out) {
  if (n.kind == NodeKind::sym && std::find(out.begin(), out.end(), n.text) == out.end()) out.push_back(n.text);
  for (const auto& k : n.kids) collect_symbols(k, out);
}

struct End {  // an interval end; unset value = infinity
  std::optional<Rat> v;
  bool closed = false;
};

Value interval_value(const End& lo, const End& hi) {
  Value v;
  v.kind = ValueKind::interval;
  v.open = lo.closed ? '[' : '(';
  v.close = hi.closed ? ']' : ')';
  Node inf;
  inf.kind = NodeKind::inf;
  Node ninf;
  ninf.kind = NodeKind::neg;
  ninf.kids = {inf};
  v.items.push_back(expr_of(lo.v ? rat_node(*lo.v) : ninf));
  v.items.push_back(expr_of(hi.v ? rat_node(*hi.v) : inf));
  v.source = canonical_value(v);
  return v;
}

// The preimage of the interval (lo, hi) of u = a x + b.
std::optional<std::pair<End, End>> preimage(const Lin& l, End lo, End hi) {
  int s = rat_sign(l.a);
  if (s == 0) return std::nullopt;
  auto map = [&](const End& e) -> std::optional<End> {
    if (!e.v) return End{std::nullopt, false};
    auto d = rat_add(*e.v, rat_neg(l.b));
    if (!d) return std::nullopt;
    auto q = rat_div(*d, l.a);
    if (!q) return std::nullopt;
    return End{*q, e.closed};
  };
  auto x = map(lo), y = map(hi);
  if (!x || !y) return std::nullopt;
  if (s > 0) return std::make_pair(*x, *y);
  return std::make_pair(*y, *x);
}

bool lower_op(const std::string& o) { return o == "<" || o == "<="; }

// "-x > -1" -> (-oo, 1); "2 <= |z| <= 5" -> [-5,-2] U [2,5]; "|x - 1| < 2" -> (-1, 3). Linear forms with rational
// coefficients in exactly one variable; nullopt otherwise.
std::optional<Value> relation_to_set(const Value& rel) {
  if (rel.kind != ValueKind::relation || rel.items.size() < 2 || rel.items.size() > 3) return std::nullopt;
  for (const auto& o : rel.ops)
    if (o == "!=" || lower_op(o) != lower_op(rel.ops[0])) return std::nullopt;
  std::vector<std::string> vars;
  for (const auto& it : rel.items) {
    if (it.kind != ValueKind::expr || has_inf(it.expr) || has_pm(it.expr)) return std::nullopt;
    collect_symbols(it.expr, vars);
  }
  if (vars.size() != 1) return std::nullopt;
  const std::string& x = vars[0];
  // Normalise to "lo < M < hi" / "M < hi" / "lo < M" with ascending ops.
  std::vector<Value> items = rel.items;
  std::vector<std::string> ops = rel.ops;
  if (!lower_op(ops[0])) {
    std::reverse(items.begin(), items.end());
    std::reverse(ops.begin(), ops.end());
    for (auto& o : ops) o = o == ">" ? "<" : "<=";
  }
  auto constant = [&](const Value& v) -> std::optional<Rat> {
    if (has_symbols(v.expr)) return std::nullopt;
    return node_rational(v.expr);
  };
  // Which item holds the variable?
  std::size_t m = items.size();
  for (std::size_t k = 0; k < items.size(); ++k)
    if (has_symbols(items[k].expr)) { if (m != items.size()) return std::nullopt; m = k; }
  if (m == items.size()) return std::nullopt;
  End lo, hi;  // bounds of the middle
  if (items.size() == 3) {
    if (m != 1) return std::nullopt;
    auto a = constant(items[0]), b = constant(items[2]);
    if (!a || !b) return std::nullopt;
    lo = {*a, ops[0] == "<="};
    hi = {*b, ops[1] == "<="};
  } else if (m == 0) {
    auto b = constant(items[1]);
    if (!b) return std::nullopt;
    hi = {*b, ops[0] == "<="};
  } else {
    auto a = constant(items[0]);
    if (!a) return std::nullopt;
    lo = {*a, ops[0] == "<="};
  }
  const Node& mid = items[m].expr;
  if (mid.kind == NodeKind::func && mid.text == "abs" && mid.kids.size() == 1) {
    auto l = linear(mid.kids[0], x, 0);
    if (!l) return std::nullopt;
    // |u| in [lo, hi]: u in [-hi, -lo] U [lo, hi] (lo <= 0: one interval [-hi, hi]).
    bool lo_pos = lo.v && rat_sign(*lo.v) > 0;
    std::vector<std::pair<End, End>> parts;
    End nhi = hi.v ? End{rat_neg(*hi.v), hi.closed} : End{std::nullopt, false};
    if (hi.v && rat_sign(*hi.v) < 0) return std::nullopt;
    if (!lo_pos) {
      parts.push_back({nhi, hi});
    } else {
      parts.push_back({nhi, End{rat_neg(*lo.v), lo.closed}});
      parts.push_back({lo, hi});
    }
    Value u;
    u.kind = ValueKind::uni;
    for (const auto& [a, b] : parts) {
      auto pre = preimage(*l, a, b);
      if (!pre) return std::nullopt;
      u.items.push_back(interval_value(pre->first, pre->second));
    }
    if (u.items.size() == 1) return u.items[0];
    u.source = rel.source;
    return u;
  }
  auto l = linear(mid, x, 0);
  if (!l) return std::nullopt;
  auto pre = preimage(*l, lo, hi);
  if (!pre) return std::nullopt;
  return interval_value(pre->first, pre->second);
}

// ---------------------------------------------------------------------------------------------------------------
// Ratios.

bool integer_literal(const Value& v) { return v.kind == ValueKind::expr && v.expr.kind == NodeKind::num && !v.expr.decimal; }

bool eq_ratio(const Value& p, const Value& g, Ctx& c) {
  std::vector<Value> a = p.items, b = g.items;
  auto all_int = [](const std::vector<Value>& v) { return std::all_of(v.begin(), v.end(), integer_literal); };
  if (a.size() != b.size() && all_int(a) && all_int(b)) {  // "20:34" = "20:34:00"
    Value zero = expr_of(Node{NodeKind::num, "0", {}, false});
    while (a.size() < b.size()) a.push_back(zero);
    while (b.size() < a.size()) b.push_back(zero);
  }
  if (ordered_match(a, b, c)) return true;
  if (c.timeout || a.size() != 2 || b.size() != 2) return false;
  // A proportion 2:3 = 4:6 (not for times: no zero or zero-padded part).
  for (const auto* v : {&a, &b}) {
    for (const auto& it : *v) {
      if (it.kind != ValueKind::expr) return false;
      if (it.expr.kind == NodeKind::num && (it.expr.text == "0" || (it.expr.text.size() > 1 && it.expr.text[0] == '0')))
        return false;
    }
  }
  Node l{NodeKind::mul, {}, {a[0].expr, b[1].expr}, false};
  Node r{NodeKind::mul, {}, {a[1].expr, b[0].expr}, false};
  return eq_node_single(l, r, c);
}

Value ratio_quotient(const Value& r) {
  return expr_of(Node{NodeKind::div, {}, {r.items[0].expr, r.items[1].expr}, false});
}

bool eq_value(const Value& p, const Value& g, Ctx& c) {
  if (c.out_of_time()) return false;
  if (p.kind == ValueKind::text || g.kind == ValueKind::text) {
    bool r = normalize_answer(p.source) == normalize_answer(g.source) && !p.source.empty();
    c.step = r ? "string" : "parse_error";
    if (!r) c.note = p.kind == ValueKind::text ? "prediction: " + p.error : "gold: " + g.error;
    return r;
  }
  // An equation between an unevaluated form (an integral, a sum: text to us) and a value is that value:
  // "\int_0^1 x^2 dx = \frac13" is 1/3.
  auto value_side = [](const Value& eq) -> const Value* {
    if (eq.kind != ValueKind::equation) return nullptr;
    bool lt = eq.items[0].kind == ValueKind::text, rt = eq.items[1].kind == ValueKind::text;
    const Value* v = lt && !rt ? &eq.items[1] : rt && !lt ? &eq.items[0] : nullptr;
    if (!v || v->kind != ValueKind::expr || has_symbols(v->expr)) return nullptr;  // a constant value only
    return v;
  };
  if (const Value* v = value_side(p)) return eq_value(*v, g, c);
  if (const Value* v = value_side(g)) return eq_value(p, *v, c);
  // Equations against non-equations.
  if (p.kind == ValueKind::equation && g.kind != ValueKind::equation) {
    // A predicted equation states its last side ("x = 5", "5 + 6 = 11", "a^2 + b^2 = 25"), except "4 = t".
    if (!p.chain && !droppable_lhs(p.items[0]) && droppable_lhs(p.items[1]) && p.items[0].kind == ValueKind::expr &&
        !has_symbols(p.items[0].expr))
      return eq_value(p.items[0], g, c);
    return eq_value(p.items[1], g, c);
  }
  if (g.kind == ValueKind::equation && p.kind != ValueKind::equation) {
    if (droppable_lhs(g.items[0])) return eq_value(p, g.items[1], c);
    if (!g.chain && droppable_lhs(g.items[1]) && g.items[0].kind == ValueKind::expr && !has_symbols(g.items[0].expr))
      return eq_value(p, g.items[0], c);
    c.step = "structure";
    c.note = "the gold answer is an equation";
    return false;
  }
  if (p.kind == ValueKind::equation && g.kind == ValueKind::equation) {
    const Value &pl = p.items[0], &gl = g.items[0];
    if (droppable_lhs(pl) && droppable_lhs(gl)) {
      bool same = strip_spaces(pl.source) == strip_spaces(gl.source) ||
                  (is_lone_symbol(pl) && is_lone_symbol(gl) && pl.expr.text == gl.expr.text) ||
                  (strip_spaces(pl.source) == "y" && function_name(gl)) ||
                  (strip_spaces(gl.source) == "y" && function_name(pl));
      if (same) return eq_value(p.items[1], g.items[1], c);
    }
    if (p.items[0].kind != ValueKind::expr || p.items[1].kind != ValueKind::expr ||
        g.items[0].kind != ValueKind::expr || g.items[1].kind != ValueKind::expr) {
      c.step = "structure";
      return false;
    }
    auto diff = [](const Value& eq) {
      Node d;
      d.kind = NodeKind::add;
      Node n;
      n.kind = NodeKind::neg;
      n.kids = {eq.items[1].expr};
      d.kids = {eq.items[0].expr, n};
      return d;
    };
    Node dp = diff(p), dg = diff(g);
    if (has_pm(dp) || has_pm(dg) || has_inf(dp) || has_inf(dg) || !c.opt.symbolic) { c.step = "structure"; return false; }
    bool inexact = has_decimal(dp) || has_decimal(dg);
    MathOptions eo = c.opt;
    if (inexact && c.opt.decimal_rounding != MathOptions::DecimalRounding::exact) {
      int md = c.opt.decimal_min_digits;
      eo.rel_tol = std::max(eo.rel_tol, std::min(0.01, std::max(literal_tolerance(dp, md), literal_tolerance(dg, md))));
    }
    CasResult r = cas_compare(dp, dg, CasMode::proportional, inexact, eo, c.deadline);
    if (r.verdict == CasVerdict::timeout) { c.timeout = true; c.step = "timeout"; return false; }
    if (r.verdict == CasVerdict::refused) { c.refused = true; c.step = "refused"; c.note = r.note; return false; }
    c.step = r.step.empty() ? "symbolic" : r.step;
    return r.verdict == CasVerdict::equal;
  }
  // Inequalities in one variable are sets.
  if (p.kind == ValueKind::relation || g.kind == ValueKind::relation) {
    auto ps = relation_to_set(p), gs = relation_to_set(g);
    if (ps || gs) return eq_value(ps ? *ps : p, gs ? *gs : g, c);
  }
  // Ratios.
  if (p.kind == ValueKind::ratio && g.kind == ValueKind::ratio) {
    bool r = eq_ratio(p, g, c);
    if (!c.timeout) c.step = "structure";
    return r;
  }
  if (p.kind == ValueKind::ratio && p.items.size() == 2 && g.kind == ValueKind::expr)
    return eq_value(ratio_quotient(p), g, c);
  if (g.kind == ValueKind::ratio && g.items.size() == 2 && p.kind == ValueKind::expr)
    return eq_value(p, ratio_quotient(g), c);
  // \pm expressions against lists/sets.
  if (p.kind == ValueKind::expr && has_pm(p.expr) && unordered(g.kind)) {
    if (pm_refused(p.expr, c)) return false;
    return eq_value(pm_as_list(p), g, c);
  }
  if (g.kind == ValueKind::expr && has_pm(g.expr) && unordered(p.kind)) {
    if (pm_refused(g.expr, c)) return false;
    return eq_value(p, pm_as_list(g), c);
  }

  if (p.kind == ValueKind::expr && g.kind == ValueKind::expr) return eq_node(p.expr, g.expr, c);

  if (unordered(p.kind) && unordered(g.kind)) {
    bool r = c.opt.ordered_lists && p.kind == ValueKind::list && g.kind == ValueKind::list
                 ? ordered_match(p.items, g.items, c)
                 : set_match(p.items, g.items, c);
    if (!c.timeout && c.step != "too_large") c.step = "structure";
    return r;
  }
  if (bracketed(p.kind) && bracketed(g.kind)) {
    bool r = p.open == g.open && p.close == g.close && ordered_match(p.items, g.items, c);
    if (!c.timeout) c.step = "structure";
    return r;
  }
  // A gold tuple "(a, b)" also accepts a bare list "a, b".
  if (p.kind == ValueKind::list && g.kind == ValueKind::tuple && g.open == '(' && g.close == ')') {
    bool r = ordered_match(p.items, g.items, c);
    if (!c.timeout) c.step = "structure";
    return r;
  }
  // Vectors: n x 1 / 1 x n matrices against tuples and two-item brackets.
  auto vec_items = [](const Value& v) -> const std::vector<Value>* {
    if (v.kind == ValueKind::matrix && (v.rows == 1 || v.cols == 1)) return &v.items;
    if (v.kind == ValueKind::tuple || v.kind == ValueKind::interval) return &v.items;
    return nullptr;
  };
  if (p.kind == ValueKind::matrix && g.kind == ValueKind::matrix) {
    bool r = p.rows == g.rows && p.cols == g.cols && ordered_match(p.items, g.items, c);
    if (!c.timeout) c.step = "structure";
    return r;
  }
  if ((p.kind == ValueKind::matrix || g.kind == ValueKind::matrix) && vec_items(p) && vec_items(g)) {
    bool r = ordered_match(*vec_items(p), *vec_items(g), c);
    if (!c.timeout) c.step = "structure";
    return r;
  }
  if (p.kind == ValueKind::relation && g.kind == ValueKind::relation) {
    bool r = p.ops == g.ops && ordered_match(p.items, g.items, c);
    if (!r && !c.timeout && p.items.size() == g.items.size()) {
      // a > b  vs  b < a
      auto flip = [](const std::string& o) {
        if (o == "<") return std::string(">");
        if (o == ">") return std::string("<");
        if (o == "<=") return std::string(">=");
        if (o == ">=") return std::string("<=");
        return o;
      };
      std::vector<std::string> rops;
      for (auto it = p.ops.rbegin(); it != p.ops.rend(); ++it) rops.push_back(flip(*it));
      std::vector<Value> ritems(p.items.rbegin(), p.items.rend());
      r = rops == g.ops && ordered_match(ritems, g.items, c);
    }
    if (!c.timeout) c.step = "structure";
    return r;
  }
  c.step = "structure";
  c.note = "different answer structures";
  return false;
}

// The budget of the canonical string being built: 200 ms from the first GiNaC print of a canonical_answer() call
// (outside one there is none, so that structure prints made during comparisons never call GiNaC).
thread_local bool t_in_canonical = false;
thread_local Clock::time_point t_canonical_deadline{};

std::string canonical_node(const Node& n) {
  if (auto r = node_rational(n)) return r->canonical();
  if (t_in_canonical && t_canonical_deadline == Clock::time_point{})
    t_canonical_deadline = Clock::now() + std::chrono::milliseconds(200);
  if (t_in_canonical && !has_inf(n) && !has_pm(n) && Clock::now() < t_canonical_deadline) {
    // GiNaC-normalised print (200 ms for the whole answer); the tree print when that is not possible.
    if (auto c = cas_canonical(n, t_canonical_deadline)) return *c;
  }
  return to_string(n);
}

std::string join_items(const std::vector<Value>& items, bool sort) {
  std::vector<std::string> parts;
  // "x=1, x=2" -> "1,2", but "a=1, b=2" keeps its names.
  std::string common_lhs;
  bool same_lhs = true;
  for (const auto& i : items) {
    if (i.kind != ValueKind::equation || !droppable_lhs(i.items[0])) { same_lhs = false; break; }
    std::string l = strip_spaces(i.items[0].source);
    if (common_lhs.empty()) common_lhs = l;
    else if (l != common_lhs) { same_lhs = false; break; }
  }
  for (const auto& i : items) {
    if (i.kind == ValueKind::equation && !same_lhs && droppable_lhs(i.items[0]))
      parts.push_back(strip_spaces(i.items[0].source) + "=" + canonical_value(i.items[1]));
    else
      parts.push_back(canonical_value(i));
  }
  if (sort) {
    std::sort(parts.begin(), parts.end());
    parts.erase(std::unique(parts.begin(), parts.end()), parts.end());
  }
  std::string s;
  for (std::size_t k = 0; k < parts.size(); ++k) {
    if (k) s += ',';
    s += parts[k];
  }
  return s;
}

std::string canonical_value(const Value& v) {
  switch (v.kind) {
    case ValueKind::expr: {
      if (has_pm(v.expr)) {
        if (count_pm(v.expr, kMaxPm) > kMaxPm) return to_string(v.expr);
        std::vector<std::string> parts;
        for (const auto& n : expand_pm(v.expr)) parts.push_back(canonical_node(n));
        std::sort(parts.begin(), parts.end());
        parts.erase(std::unique(parts.begin(), parts.end()), parts.end());
        std::string s;
        for (std::size_t k = 0; k < parts.size(); ++k) s += (k ? "," : "") + parts[k];
        return s;
      }
      return canonical_node(v.expr);
    }
    case ValueKind::tuple:
    case ValueKind::interval: return std::string(1, v.open) + join_items(v.items, false) + v.close;
    case ValueKind::set: return "{" + join_items(v.items, true) + "}";
    case ValueKind::list: return join_items(v.items, true);
    case ValueKind::uni: return "U(" + join_items(v.items, true) + ")";
    case ValueKind::equation:
      if (droppable_lhs(v.items[0])) return canonical_value(v.items[1]);
      if (v.items[0].kind == ValueKind::expr && !has_symbols(v.items[0].expr))
        return canonical_value(!v.chain && droppable_lhs(v.items[1]) ? v.items[0] : v.items[1]);
      return canonical_value(v.items[0]) + "=" + canonical_value(v.items[1]);
    case ValueKind::relation: {
      if (auto s = relation_to_set(v)) return canonical_value(*s);
      std::string s;
      for (std::size_t k = 0; k < v.items.size(); ++k) {
        if (k) s += v.ops[k - 1];
        s += canonical_value(v.items[k]);
      }
      return s;
    }
    case ValueKind::ratio: {
      std::string s;
      for (std::size_t k = 0; k < v.items.size(); ++k) s += (k ? ":" : "") + canonical_value(v.items[k]);
      return s;
    }
    case ValueKind::matrix:
      return "M" + std::to_string(v.rows) + "x" + std::to_string(v.cols) + "[" + join_items(v.items, false) + "]";
    case ValueKind::text: return normalize_answer(v.source);
  }
  return normalize_answer(v.source);
}

}  // namespace

// "\text{odd}" -> "odd" (clean_latex keeps word-only \text groups so that they stay text for the parser).
std::string unwrap_text(const std::string& s) {
  if (s.find("\\text{") == std::string::npos) return s;
  std::string out;
  for (std::size_t i = 0; i < s.size();) {
    if (s[i] == '\\' && s.compare(i, 6, "\\text{") == 0) {
      std::size_t e = s.find('}', i + 6);
      if (e != std::string::npos) {
        out.append(s, i + 6, e - i - 6);
        i = e + 1;
        continue;
      }
    }
    out += s[i++];
  }
  return out;
}

namespace {

// normalize_answer() of an already cleaned answer.
std::string normalize_cleaned(const std::string& cleaned) {
  std::string s = unwrap_text(strip_spaces(cleaned));
  s = fix_shorthand(s);
  // "x=" prefix: a single short lhs.
  auto eq = s.find('=');
  if (eq != std::string::npos && eq > 0 && eq <= 2 && s.find('=', eq + 1) == std::string::npos && s[eq - 1] != '<' &&
      s[eq - 1] != '>' && s[eq - 1] != '!' && is_alpha(s[0])) {
    s = s.substr(eq + 1);
  }
  // ".5" -> "0.5"
  if (s.size() >= 2 && s[0] == '.' && is_digit(s[1])) s.insert(s.begin(), '0');
  return s;
}

}  // namespace

std::string normalize_answer(std::string_view answer) { return normalize_cleaned(clean_latex(answer)); }

namespace {

// The short name before a single '=' ("x" in "x=5"), as normalize_answer drops it; empty if none.
std::string short_lhs(const std::string& cleaned) {
  if (cleaned.find('=') == std::string::npos) return {};
  std::string s = strip_spaces(cleaned);
  auto eq = s.find('=');
  if (eq == std::string::npos || eq == 0 || eq > 2 || s.find('=', eq + 1) != std::string::npos || !is_alpha(s[0]))
    return {};
  if (s[eq - 1] == '<' || s[eq - 1] == '>' || s[eq - 1] == '!') return {};
  return s.substr(0, eq);
}

bool different_names(const std::string& cp, const std::string& cg) {
  std::string a = short_lhs(cp), b = short_lhs(cg);
  return !a.empty() && !b.empty() && a != b;
}

}  // namespace

std::string canonical_answer(std::string_view answer) {
  struct Budget {
    Budget() {
      t_in_canonical = true;
      t_canonical_deadline = Clock::time_point{};
    }
    ~Budget() { t_in_canonical = false; }
  } budget;
  try {
    std::string cleaned = clean_latex(answer);
    if (auto r = parse_plain_number(cleaned)) {
      if (!r->comma) return r->canonical();
    }
    Value v = parse_value(cleaned);
    return canonical_value(v);
  } catch (const std::exception&) {
    return normalize_answer(answer);
  }
}

EqualResult math_equal(std::string_view prediction, std::string_view gold, const MathOptions& options) {
  EqualResult res;
  try {
    const auto deadline =
        Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.timeout_s));
    std::string cp = clean_latex(prediction), cg = clean_latex(gold);
    if (cp.empty() || cg.empty()) {
      res.step = "different";
      res.note = cp.empty() ? "empty prediction" : "empty gold";
      return res;
    }
    // 1. Normalised string (not when both name different things: "x = 1" vs "y = 1").
    if (normalize_cleaned(cp) == normalize_cleaned(cg) && !different_names(cp, cg)) {
      res.equal = true;
      res.step = "string";
      return res;
    }
    // 2. Plain numbers, exactly.
    auto np = parse_plain_number(cp, options.decimal_comma);
    auto ng = parse_plain_number(cg, options.decimal_comma);
    if (np && ng) {
      if (rat_equal(*np, *ng)) { res.equal = true; res.step = "exact_number"; return res; }
      bool pp = has_percent(prediction), pg = has_percent(gold);
      if (options.percent_flex && pp != pg) {
        Rat a = pp ? rat_div100(*np) : *np;
        Rat b = pg ? rat_div100(*ng) : *ng;
        if (rat_equal(a, b)) { res.equal = true; res.step = "exact_number"; res.note = "percent"; return res; }
      }
      if ((np->inexact || ng->inexact) && rat_close(*np, *ng, options.rel_tol)) {
        res.equal = true;
        res.step = "float_tolerance";
        return res;
      }
      bool trunc = false;
      bool lp = np->places >= 1, lg = ng->places >= 1;
      auto allows = [&](const Rat& lit) { return rounding_allows(lit, options, &trunc); };
      if (lp && (!lg || ng->places > np->places) && allows(*np) && rat_rounds_to(*ng, *np, trunc)) {
        res.equal = true;
        res.step = "rounded";
        return res;
      }
      if (lg && !np->inexact && allows(*ng) && rat_rounds_to(*np, *ng, trunc)) {
        res.equal = true;
        res.step = "rounded";
        return res;
      }
      // A decimal comma may have been a list separator ("1,5" vs "5,1"): the structures decide.
      if (!np->comma && !ng->comma) {
        res.step = "exact_number";
        return res;
      }
    }
    // 3./4. Structures with symbolic leaves. A plain number keeps its reading as a number there: "1,000,000" is not
    // the list 1, 000, 000.
    auto unseparated = [](std::string& s, const std::optional<Rat>& r) {
      if (!r || r->comma) return;
      if (r->places < 0 && s.find(' ') != std::string::npos) {  // "1 000", "2 1/3": the exact value
        s = r->canonical();
        return;
      }
      s.erase(std::remove(s.begin(), s.end(), ','), s.end());  // thousands commas
    };
    unseparated(cp, np);
    unseparated(cg, ng);
    Value vp = parse_value(cp), vg = parse_value(cg);
    Ctx c{options, deadline, false, false, {}, {}};
    res.equal = eq_value(vp, vg, c);
    res.step = c.step.empty() ? (res.equal ? "structure" : "different") : c.step;
    res.timeout = c.timeout && !res.equal;
    res.refused = c.refused && !res.equal;
    res.note = c.note;
    if (res.timeout) res.step = "timeout";
    return res;
  } catch (const std::exception& e) {
    res.equal = false;
    res.step = "error";
    res.note = e.what();
    return res;
  }
}

}  // namespace reval::answer
