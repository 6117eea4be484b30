// The equivalence ladder (see math.hpp): normalised string -> plain exact numbers -> structures whose leaves are
// expressions compared by (identical print, exact rationals, GiNaC on the CAS worker). Every comparison shares one
// deadline (options.timeout_s from the start of math_equal). Structure rules:
// * equation vs non-equation: a lone-symbol lhs is dropped ("x = 5" vs "5", "y = 2x+1" vs "2x+1");
// * two equations: same lone-symbol lhs -> compare right-hand sides, else lhs-rhs must be proportional;
// * bare lists, sets and unions compare as sets (every item matches one on the other side, both ways);
// * tuples and intervals compare bracket kinds and items in order; a gold "(a, b)" also accepts a bare "a, b";
//   an n x 1 or 1 x n matrix also matches an n-tuple;
// * an expression with \pm is the set of its expansions ("\pm 2" = "2, -2" but != "2");
// * text (unparseable) compares only as a normalised string: never a number guessed from inside it.
#include <algorithm>
#include <cctype>

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
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("math grader options: ") + e.what());
  }
  if (!(o.timeout_s > 0) || o.timeout_s > 3600) throw Error("math grader options: timeout_s must be in (0, 3600]");
  if (!(o.rel_tol >= 0) || o.rel_tol > 0.1) throw Error("math grader options: rel_tol must be in [0, 0.1]");
  if (o.numeric_points < 1 || o.numeric_points > 32) throw Error("math grader options: numeric_points in [1, 32]");
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

// \frac12 -> \frac{1}{2}, \sqrt2 -> \sqrt{2} (on a space-free string).
std::string fix_shorthand(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size();) {
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
    out += s[i++];
  }
  return out;
}

bool has_percent(std::string_view s) { return s.find('%') != std::string_view::npos; }

bool has_decimal(const Node& n) {
  if (n.decimal) return true;
  for (const auto& k : n.kids) if (has_decimal(k)) return true;
  return false;
}
bool has_pm(const Node& n) {
  if (n.kind == NodeKind::pm) return true;
  for (const auto& k : n.kids) if (has_pm(k)) return true;
  return false;
}
bool has_inf(const Node& n) {
  if (n.kind == NodeKind::inf) return true;
  for (const auto& k : n.kids) if (has_inf(k)) return true;
  return false;
}

// All sign choices of the \pm nodes (at most 16 variants).
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
        if (out.size() >= 16) return out;
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
        if (out.size() >= 16) return out;
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
        if (next.size() >= 16) break;
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
};

bool eq_value(const Value& p, const Value& g, Ctx& c);

bool eq_node_single(const Node& p, const Node& g, Ctx& c) {
  if (to_string(p) == to_string(g)) { c.step = "string"; return true; }
  if (has_inf(p) || has_inf(g)) { c.step = "different"; return false; }
  auto rp = node_rational(p), rg = node_rational(g);
  if (rp && rg) {
    if (rat_equal(*rp, *rg)) { c.step = "exact_number"; return true; }
    if ((rp->inexact || rg->inexact) && rat_close(*rp, *rg, c.opt.rel_tol)) { c.step = "float_tolerance"; return true; }
    c.step = "exact_number";
    return false;
  }
  if (!c.opt.symbolic) { c.step = "different"; return false; }
  bool inexact = has_decimal(p) || has_decimal(g);
  CasResult r = cas_compare(p, g, CasMode::value, inexact, c.opt, c.deadline);
  switch (r.verdict) {
    case CasVerdict::equal: c.step = r.step == "exact" ? "symbolic" : r.step; return true;
    case CasVerdict::different: c.step = r.step == "exact" ? "symbolic" : r.step; return false;
    case CasVerdict::timeout: c.timeout = true; c.step = "timeout"; c.note = r.note; return false;
    case CasVerdict::refused: c.refused = true; c.step = "refused"; c.note = r.note; return false;
    case CasVerdict::inconclusive: c.step = "inconclusive"; c.note = r.note; return false;
  }
  return false;
}

// Set semantics: each item of a matches some item of b and vice versa.
template <class A, class B, class Eq>
bool set_match(const std::vector<A>& a, const std::vector<B>& b, Eq eq) {
  if (a.empty() || b.empty()) return a.empty() && b.empty();
  if (a.size() > 64 || b.size() > 64) return false;
  std::vector<char> b_hit(b.size(), 0);
  for (const auto& x : a) {
    bool found = false;
    for (std::size_t j = 0; j < b.size(); ++j) {
      if (eq(x, b[j])) { found = true; b_hit[j] = 1; break; }
    }
    if (!found) return false;
  }
  for (std::size_t j = 0; j < b.size(); ++j) {
    if (b_hit[j]) continue;
    bool found = false;
    for (const auto& x : a) if (eq(x, b[j])) { found = true; break; }
    if (!found) return false;
  }
  return true;
}

bool eq_node(const Node& p, const Node& g, Ctx& c) {
  if (!has_pm(p) && !has_pm(g)) return eq_node_single(p, g, c);
  auto pa = expand_pm(p), ga = expand_pm(g);
  bool r = set_match(pa, ga, [&](const Node& x, const Node& y) { return !c.timeout && eq_node_single(x, y, c); });
  if (r) c.step = "structure";
  return r;
}

bool is_lone_symbol(const Value& v) { return v.kind == ValueKind::expr && v.expr.kind == NodeKind::sym; }

// A left-hand side that only names the answer: "x", "y_1", "f(x)", "g(x,y)".
bool droppable_lhs(const Value& v) {
  if (is_lone_symbol(v)) return true;
  std::string s = strip_spaces(v.source);
  auto open = s.find('(');
  if (open == std::string::npos || open == 0 || s.back() != ')') return false;
  for (std::size_t k = 0; k < open; ++k) if (!is_alpha(s[k]) && s[k] != '_') return false;
  for (std::size_t k = open + 1; k + 1 < s.size(); ++k) if (!is_alpha(s[k]) && s[k] != ',') return false;
  return open <= 2;
}

Value expr_of(const Node& n) {
  Value v;
  v.kind = ValueKind::expr;
  v.expr = n;
  return v;
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
    if (!eq_value(a[k], b[k], c)) return false;
  return true;
}

bool unordered(ValueKind k) { return k == ValueKind::list || k == ValueKind::set || k == ValueKind::uni; }
bool bracketed(ValueKind k) { return k == ValueKind::tuple || k == ValueKind::interval; }

bool eq_value(const Value& p, const Value& g, Ctx& c) {
  if (c.timeout) return false;
  if (p.kind == ValueKind::text || g.kind == ValueKind::text) {
    bool r = normalize_answer(p.source) == normalize_answer(g.source) && !p.source.empty();
    c.step = r ? "string" : "parse_error";
    if (!r) c.note = p.kind == ValueKind::text ? "prediction: " + p.error : "gold: " + g.error;
    return r;
  }
  // Equations against non-equations: drop a lone-symbol lhs.
  if (p.kind == ValueKind::equation && g.kind != ValueKind::equation) {
    if (droppable_lhs(p.items[0])) return eq_value(p.items[1], g, c);
    c.step = "structure";
    return false;
  }
  if (g.kind == ValueKind::equation && p.kind != ValueKind::equation) {
    if (droppable_lhs(g.items[0])) return eq_value(p, g.items[1], c);
    c.step = "structure";
    return false;
  }
  if (p.kind == ValueKind::equation && g.kind == ValueKind::equation) {
    if (is_lone_symbol(p.items[0]) && is_lone_symbol(g.items[0]) && p.items[0].expr.text == g.items[0].expr.text)
      return eq_value(p.items[1], g.items[1], c);
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
    CasResult r = cas_compare(dp, dg, CasMode::proportional, has_decimal(dp) || has_decimal(dg), c.opt, c.deadline);
    if (r.verdict == CasVerdict::timeout) { c.timeout = true; c.step = "timeout"; return false; }
    if (r.verdict == CasVerdict::refused) { c.refused = true; c.step = "refused"; c.note = r.note; return false; }
    c.step = r.step.empty() ? "symbolic" : r.step;
    return r.verdict == CasVerdict::equal;
  }
  // \pm expressions against lists/sets.
  if (p.kind == ValueKind::expr && has_pm(p.expr) && unordered(g.kind)) return eq_value(pm_as_list(p), g, c);
  if (g.kind == ValueKind::expr && has_pm(g.expr) && unordered(p.kind)) return eq_value(p, pm_as_list(g), c);

  if (p.kind == ValueKind::expr && g.kind == ValueKind::expr) return eq_node(p.expr, g.expr, c);

  if (unordered(p.kind) && unordered(g.kind)) {
    bool r = set_match(p.items, g.items, [&](const Value& x, const Value& y) { return !c.timeout && eq_value(x, y, c); });
    if (!c.timeout) c.step = "structure";
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
  // Vectors: n x 1 / 1 x n matrices against tuples.
  auto vec_items = [](const Value& v) -> const std::vector<Value>* {
    if (v.kind == ValueKind::matrix && (v.rows == 1 || v.cols == 1)) return &v.items;
    if (v.kind == ValueKind::tuple) return &v.items;
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

std::string canonical_value(const Value& v);

std::string canonical_node(const Node& n) {
  if (auto r = node_rational(n)) return r->canonical();
  if (!has_inf(n) && !has_pm(n)) {
    // GiNaC-normalised print (bounded to 200 ms); the tree print when that is not possible.
    if (auto c = cas_canonical(n, Clock::now() + std::chrono::milliseconds(200))) return *c;
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
        std::vector<std::string> parts;
        for (const auto& n : expand_pm(v.expr)) parts.push_back(canonical_node(n));
        std::sort(parts.begin(), parts.end());
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
      return canonical_value(v.items[0]) + "=" + canonical_value(v.items[1]);
    case ValueKind::relation: {
      std::string s;
      for (std::size_t k = 0; k < v.items.size(); ++k) {
        if (k) s += v.ops[k - 1];
        s += canonical_value(v.items[k]);
      }
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
  std::string out;
  for (std::size_t i = 0; i < s.size();) {
    if (s.compare(i, 6, "\\text{") == 0) {
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

std::string normalize_answer(std::string_view answer) {
  std::string s = unwrap_text(strip_spaces(clean_latex(answer)));
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

std::string canonical_answer(std::string_view answer) {
  try {
    std::string cleaned = clean_latex(answer);
    if (auto r = parse_plain_number(cleaned)) return r->canonical();
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
    // 1. Normalised string.
    if (normalize_answer(prediction) == normalize_answer(gold)) {
      res.equal = true;
      res.step = "string";
      return res;
    }
    // 2. Plain numbers, exactly.
    auto np = parse_plain_number(cp);
    auto ng = parse_plain_number(cg);
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
      res.step = "exact_number";
      return res;
    }
    // 3./4. Structures with symbolic leaves.
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
