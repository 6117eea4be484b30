// Exact plain numbers without a CAS (see number.hpp). The parser is a hand-written scanner over the cleaned answer;
// arithmetic is on decimal digit strings: 128-bit for <= 38 digits, schoolbook 10^9-limb products otherwise.
#include "graders/answer/number.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <vector>

namespace reval::answer {
namespace {

using u128 = unsigned __int128;

bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::string strip_zeros(std::string s) {
  std::size_t k = 0;
  while (k + 1 < s.size() && s[k] == '0') ++k;
  if (s.empty()) return "0";
  return k ? s.substr(k) : s;
}

bool to_u128(const std::string& s, u128& out) {
  if (s.size() > 38) return false;
  u128 v = 0;
  for (char c : s) v = v * 10 + static_cast<unsigned>(c - '0');
  out = v;
  return true;
}

std::string u128_str(u128 v) {
  if (v == 0) return "0";
  std::string s;
  while (v) { s.push_back(static_cast<char>('0' + static_cast<int>(v % 10))); v /= 10; }
  return std::string(s.rbegin(), s.rend());
}

u128 gcd(u128 a, u128 b) {
  while (b) { u128 t = a % b; a = b; b = t; }
  return a;
}

std::vector<std::uint32_t> limbs(const std::string& s) {  // little-endian base 1e9
  std::vector<std::uint32_t> v;
  for (std::size_t end = s.size(); end > 0;) {
    std::size_t start = end >= 9 ? end - 9 : 0;
    v.push_back(static_cast<std::uint32_t>(std::strtoul(s.substr(start, end - start).c_str(), nullptr, 10)));
    end = start;
  }
  while (v.size() > 1 && v.back() == 0) v.pop_back();
  return v;
}

std::vector<std::uint32_t> mul(const std::vector<std::uint32_t>& a, const std::vector<std::uint32_t>& b) {
  std::vector<std::uint64_t> acc(a.size() + b.size() + 1, 0);
  for (std::size_t i = 0; i < a.size(); ++i) {
    std::uint64_t carry = 0;
    for (std::size_t j = 0; j < b.size(); ++j) {
      std::uint64_t cur = acc[i + j] + static_cast<std::uint64_t>(a[i]) * b[j] + carry;
      acc[i + j] = cur % 1000000000ULL;
      carry = cur / 1000000000ULL;
    }
    std::size_t k = i + b.size();
    while (carry) {
      std::uint64_t cur = acc[k] + carry;
      acc[k] = cur % 1000000000ULL;
      carry = cur / 1000000000ULL;
      ++k;
    }
  }
  std::vector<std::uint32_t> r(acc.begin(), acc.end());
  while (r.size() > 1 && r.back() == 0) r.pop_back();
  return r;
}

// Scans an unsigned decimal: digits (with optional 3-digit thousands groups) [. digits] [e[+-]digits].
struct Scan {
  std::string_view s;
  std::size_t i = 0;
  bool done() const { return i >= s.size(); }
  void ws() { while (i < s.size() && s[i] == ' ') ++i; }
};

bool scan_uint(Scan& sc, std::string& digits) {
  std::size_t j = sc.i;
  while (j < sc.s.size() && is_digit(sc.s[j])) ++j;
  if (j == sc.i) return false;
  digits.assign(sc.s.substr(sc.i, j - sc.i));
  sc.i = j;
  return true;
}

// Decimal literal -> rational pieces. Returns false if not a decimal at sc.i. With allow_thousands (a whole plain
// number, not a token inside an expression): "1,234,567" and "1 234 567" are thousands groups (a first group of
// 1-3 digits not starting with 0, then groups of exactly 3), and a comma that cannot be a thousands separator is a
// decimal comma ("3,5", "1000,99", "0,111").
bool scan_decimal(Scan& sc, Rat& r, bool allow_thousands, bool decimal_comma = false) {
  std::string intpart;
  std::size_t j = sc.i;
  while (j < sc.s.size() && is_digit(sc.s[j])) ++j;
  std::size_t first_len = j - sc.i;
  intpart.assign(sc.s.substr(sc.i, j - sc.i));
  bool grouped = false;
  if (allow_thousands && first_len >= 1 && first_len <= 3 && intpart[0] != '0' && j < sc.s.size() &&
      (sc.s[j] == ',' || sc.s[j] == ' ')) {
    char sep = sc.s[j];
    std::size_t k = j;
    std::string merged = intpart;
    bool any = false;
    while (k + 3 < sc.s.size() + 0 && sc.s[k] == sep && is_digit(sc.s[k + 1]) && is_digit(sc.s[k + 2]) &&
           is_digit(sc.s[k + 3]) && (k + 4 >= sc.s.size() || !is_digit(sc.s[k + 4]))) {
      merged.append(sc.s.substr(k + 1, 3));
      k += 4;
      any = true;
    }
    bool ok_end = k >= sc.s.size() || (sc.s[k] != ',' && sc.s[k] != ' ' && sc.s[k] != '/');
    if (any && ok_end) { intpart = merged; j = k; grouped = true; }
  }
  std::string frac;
  if (j < sc.s.size() && sc.s[j] == '.' && j + 1 < sc.s.size() && is_digit(sc.s[j + 1])) {
    std::size_t k = j + 1;
    while (k < sc.s.size() && is_digit(sc.s[k])) ++k;
    frac.assign(sc.s.substr(j + 1, k - j - 1));
    j = k;
    r.inexact = true;
  } else if (decimal_comma && !grouped && !intpart.empty() && j + 1 < sc.s.size() && sc.s[j] == ',' &&
             is_digit(sc.s[j + 1])) {
    std::size_t k = j + 1;
    while (k < sc.s.size() && is_digit(sc.s[k])) ++k;
    bool could_be_thousands = k - j - 1 == 3 && intpart.size() <= 3 && intpart[0] != '0';
    if (!could_be_thousands && (k == sc.s.size() || (sc.s[k] != ',' && sc.s[k] != '.'))) {
      frac.assign(sc.s.substr(j + 1, k - j - 1));
      j = k;
      r.inexact = true;
      r.comma = true;
    }
  }
  if (intpart.empty() && frac.empty()) return false;
  if (intpart.size() + frac.size() > 4000) return false;
  long exp10 = -static_cast<long>(frac.size());
  bool sci = false;
  if (j + 1 < sc.s.size() && (sc.s[j] == 'e' || sc.s[j] == 'E') && !intpart.empty()) {
    std::size_t k = j + 1;
    bool eneg = false;
    if (sc.s[k] == '+' || sc.s[k] == '-') { eneg = sc.s[k] == '-'; ++k; }
    std::size_t m = k;
    while (m < sc.s.size() && is_digit(sc.s[m])) ++m;
    if (m > k) {
      if (m - k > 4) return false;
      long e = std::strtol(std::string(sc.s.substr(k, m - k)).c_str(), nullptr, 10);
      if (e > 1000) return false;
      exp10 += eneg ? -e : e;
      r.inexact = true;
      sci = true;
      j = m;
    }
  }
  std::string num = intpart + frac;
  if (!frac.empty() && !sci) {
    r.places = static_cast<int>(frac.size());
    std::size_t z = 0;
    while (z < num.size() && num[z] == '0') ++z;
    r.sig = static_cast<int>(num.size() - z);
  }
  std::string den = "1";
  if (exp10 > 0) num.append(static_cast<std::size_t>(exp10), '0');
  else if (exp10 < 0) den.append(static_cast<std::size_t>(-exp10), '0');
  r.num = strip_zeros(num);
  r.den = den;
  sc.i = j;
  return true;
}

// "{123}" or "{-123}" for \frac arguments; returns digits and sign.
bool scan_brace_int(Scan& sc, std::string& digits, bool& neg) {
  sc.ws();
  neg = false;
  if (sc.i < sc.s.size() && is_digit(sc.s[sc.i])) {  // \frac12
    digits.assign(1, sc.s[sc.i]);
    ++sc.i;
    return true;
  }
  if (sc.i >= sc.s.size() || sc.s[sc.i] != '{') return false;
  ++sc.i;
  sc.ws();
  if (sc.i < sc.s.size() && sc.s[sc.i] == '-') { neg = true; ++sc.i; }
  if (!scan_uint(sc, digits)) return false;
  sc.ws();
  if (sc.i >= sc.s.size() || sc.s[sc.i] != '}') return false;
  ++sc.i;
  return true;
}

Rat make(bool neg, std::string num, std::string den) {
  Rat r;
  r.neg = neg;
  r.num = strip_zeros(std::move(num));
  r.den = strip_zeros(std::move(den));
  return r;
}

// a + b for non-negative rationals with the same sign handling kept by caller (mixed numbers only, small values).
std::optional<Rat> add_small(const Rat& a, const Rat& b) {
  u128 an, ad, bn, bd;
  if (!to_u128(a.num, an) || !to_u128(a.den, ad) || !to_u128(b.num, bn) || !to_u128(b.den, bd)) return std::nullopt;
  u128 x, y, n, d;
  if (__builtin_mul_overflow(an, bd, &x) || __builtin_mul_overflow(bn, ad, &y) || __builtin_add_overflow(x, y, &n) ||
      __builtin_mul_overflow(ad, bd, &d))
    return std::nullopt;
  Rat r;
  r.num = u128_str(n);
  r.den = u128_str(d);
  return r;
}

}  // namespace

void Rat::normalize() {
  num = strip_zeros(num);
  den = strip_zeros(den);
  u128 n, d;
  if (to_u128(num, n) && to_u128(den, d) && d != 0) {
    u128 g = gcd(n, d);
    if (g > 1) { n /= g; d /= g; }
    num = u128_str(n);
    den = u128_str(d);
  }
  if (num == "0") { neg = false; den = "1"; }
}

std::string Rat::canonical() const {
  std::string s = neg ? "-" : "";
  s += num;
  if (den != "1") { s += '/'; s += den; }
  return s;
}

long double Rat::approx() const {
  // Scale long digit strings to avoid overflow: value = 0.dddd * 10^len.
  auto part = [](const std::string& d, long& e) {
    std::size_t take = std::min<std::size_t>(d.size(), 30);
    long double m = std::strtold(("0." + d.substr(0, take)).c_str(), nullptr);
    e = static_cast<long>(d.size());
    return m;
  };
  long en, ed;
  long double mn = part(num, en), md = part(den, ed);
  if (md == 0) return 0;
  long double v = (mn / md) * std::pow(10.0L, static_cast<long double>(en - ed));
  return neg ? -v : v;
}

namespace {

// Repeating decimals "0.1\overline{6}" = (16 - 1) / 90: numerator ABC - AB, denominator r nines then n zeros.
std::optional<Rat> repeating_decimal(std::string_view s) {
  bool neg = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) { neg = s[0] == '-'; s.remove_prefix(1); }
  auto dot = s.find('.');
  auto ov = s.find("\\overline{");
  if (dot == std::string_view::npos || ov == std::string_view::npos || ov < dot || s.back() != '}') return std::nullopt;
  std::string_view a = s.substr(0, dot), b = s.substr(dot + 1, ov - dot - 1), c = s.substr(ov + 10, s.size() - ov - 11);
  auto digits = [](std::string_view d) { return std::all_of(d.begin(), d.end(), [](char ch) { return is_digit(ch); }); };
  if (!digits(a) || !digits(b) || !digits(c) || c.empty() || a.size() + b.size() + c.size() > 36) return std::nullopt;
  u128 abc = 0, ab = 0;
  std::string sab = std::string(a) + std::string(b), sabc = sab + std::string(c);
  to_u128(sabc, abc);
  if (!sab.empty()) to_u128(sab, ab);
  Rat r;
  r.neg = neg;
  r.num = u128_str(abc - ab);
  r.den = std::string(c.size(), '9') + std::string(b.size(), '0');
  r.normalize();
  return r;
}

}  // namespace

std::optional<Rat> parse_plain_number(std::string_view s, bool decimal_comma) {
  // Drop spaces at the ends; inner single spaces only matter for mixed numbers "3 1/2".
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  if (s.empty() || s.size() > 4100) return std::nullopt;
  if (s.find("\\overline{") != std::string_view::npos) return repeating_decimal(s);
  Scan sc{s};
  bool neg = false;
  if (s[0] == '-' || s[0] == '+') { neg = s[0] == '-'; ++sc.i; sc.ws(); }
  Rat r;
  if (sc.i < s.size() && s.compare(sc.i, 5, "\\frac") == 0) {
    sc.i += 5;
    std::string a, b;
    bool na, nb;
    if (!scan_brace_int(sc, a, na) || !scan_brace_int(sc, b, nb)) return std::nullopt;
    sc.ws();
    if (!sc.done()) return std::nullopt;
    r = make(neg != (na != nb), a, b);
    if (r.den == "0") return std::nullopt;
    r.normalize();
    return r;
  }
  if (!scan_decimal(sc, r, true, decimal_comma)) return std::nullopt;
  if (sc.done()) {
    r.neg = neg;
    r.normalize();
    return r;
  }
  // a/b, mixed "3\frac{1}{2}", "3 1/2"
  if (!r.inexact) {
    std::size_t save = sc.i;
    if (s[sc.i] == '/') {
      ++sc.i;
      std::string b;
      if (!scan_uint(sc, b) || !sc.done()) return std::nullopt;
      r = make(neg, r.num, b);
      if (r.den == "0") return std::nullopt;
      r.normalize();
      return r;
    }
    sc.ws();
    std::string a, b;
    bool na = false, nb = false;
    if (s.compare(sc.i, 5, "\\frac") == 0) {
      sc.i += 5;
      if (!scan_brace_int(sc, a, na) || !scan_brace_int(sc, b, nb) || na || nb) return std::nullopt;
    } else if (sc.i > save) {
      if (!scan_uint(sc, a) || sc.i >= s.size() || s[sc.i] != '/') return std::nullopt;
      ++sc.i;
      if (!scan_uint(sc, b)) return std::nullopt;
    } else {
      return std::nullopt;
    }
    sc.ws();
    if (!sc.done()) return std::nullopt;
    Rat f = make(false, a, b);
    if (f.den == "0") return std::nullopt;
    auto sum = add_small(r, f);
    if (!sum) return std::nullopt;
    sum->neg = neg;
    sum->normalize();
    return sum;
  }
  return std::nullopt;
}

namespace {

// Small exact rationals for constant arithmetic on the tree (no GiNaC): n/d with d > 0, 128-bit, overflow -> none.
using i128 = __int128;
struct Small {
  i128 n = 0, d = 1;
  bool inexact = false;
};

std::optional<Small> to_small(const Rat& r) {
  u128 n, d;
  if (!to_u128(r.num, n) || !to_u128(r.den, d) || n > (static_cast<u128>(1) << 126) || d > (static_cast<u128>(1) << 126))
    return std::nullopt;
  Small s;
  s.n = r.neg ? -static_cast<i128>(n) : static_cast<i128>(n);
  s.d = static_cast<i128>(d);
  s.inexact = r.inexact;
  return s;
}

i128 igcd(i128 a, i128 b) {
  if (a < 0) a = -a;
  while (b) { i128 t = a % b; a = b; b = t < 0 ? -t : t; }
  return a;
}

std::optional<Small> reduce(Small s) {
  if (s.d == 0) return std::nullopt;
  if (s.d < 0) { s.d = -s.d; s.n = -s.n; }
  i128 g = igcd(s.n, s.d);
  if (g > 1) { s.n /= g; s.d /= g; }
  return s;
}

std::optional<Small> add(const Small& a, const Small& b) {
  i128 x, y, n, d;
  if (__builtin_mul_overflow(a.n, b.d, &x) || __builtin_mul_overflow(b.n, a.d, &y) || __builtin_add_overflow(x, y, &n) ||
      __builtin_mul_overflow(a.d, b.d, &d))
    return std::nullopt;
  auto r = reduce({n, d, a.inexact || b.inexact});
  return r;
}

std::optional<Small> mul(const Small& a, const Small& b) {
  i128 n, d;
  if (__builtin_mul_overflow(a.n, b.n, &n) || __builtin_mul_overflow(a.d, b.d, &d)) return std::nullopt;
  return reduce({n, d, a.inexact || b.inexact});
}

std::optional<Small> eval_small(const Node& n, int depth);

Rat from_small(const Small& s) {
  Rat r;
  r.neg = s.n < 0;
  r.num = u128_str(static_cast<u128>(s.n < 0 ? -s.n : s.n));
  r.den = u128_str(static_cast<u128>(s.d));
  r.inexact = s.inexact;
  r.normalize();
  return r;
}

std::optional<Small> eval_small(const Node& n, int depth) {
  if (depth > 64) return std::nullopt;
  switch (n.kind) {
    case NodeKind::num: {
      auto r = node_rational(n);
      if (!r) return std::nullopt;
      return to_small(*r);
    }
    case NodeKind::neg: {
      auto a = eval_small(n.kids[0], depth + 1);
      if (!a) return std::nullopt;
      a->n = -a->n;
      return a;
    }
    case NodeKind::add:
    case NodeKind::mul: {
      std::optional<Small> acc = Small{n.kind == NodeKind::add ? 0 : 1, 1, false};
      for (const auto& k : n.kids) {
        auto v = eval_small(k, depth + 1);
        if (!v) return std::nullopt;
        acc = n.kind == NodeKind::add ? add(*acc, *v) : mul(*acc, *v);
        if (!acc) return std::nullopt;
      }
      return acc;
    }
    case NodeKind::div: {
      auto a = eval_small(n.kids[0], depth + 1), b = eval_small(n.kids[1], depth + 1);
      if (!a || !b || b->n == 0) return std::nullopt;
      return mul(*a, Small{b->d, b->n, b->inexact});
    }
    case NodeKind::pow: {
      auto b = eval_small(n.kids[0], depth + 1), e = eval_small(n.kids[1], depth + 1);
      if (!b || !e || e->d != 1 || e->n > 128 || e->n < -128) return std::nullopt;
      long k = static_cast<long>(e->n);
      Small base = *b;
      if (k < 0) {
        if (base.n == 0) return std::nullopt;
        base = Small{base.d, base.n, base.inexact};
        k = -k;
      }
      std::optional<Small> acc = Small{1, 1, base.inexact};
      for (long i = 0; i < k && acc; ++i) acc = mul(*acc, base);
      if (acc) acc = reduce(*acc);
      return acc;
    }
    default:
      return std::nullopt;
  }
}

}  // namespace

std::optional<Rat> node_rational(const Node& n) {
  if (n.kind != NodeKind::num && n.kind != NodeKind::neg) {
    auto s = eval_small(n, 0);
    if (!s) return std::nullopt;
    return from_small(*s);
  }
  switch (n.kind) {
    case NodeKind::num: {
      Rat r;
      Scan sc{n.text};
      if (!scan_decimal(sc, r, false) || !sc.done()) return std::nullopt;
      r.inexact = n.decimal;
      r.normalize();
      return r;
    }
    case NodeKind::neg: {
      auto r = node_rational(n.kids[0]);
      if (r && r->num != "0") r->neg = !r->neg;
      return r;
    }
    default:
      return std::nullopt;
  }
}

bool rat_equal(const Rat& a, const Rat& b) {
  if (a.num == "0" || b.num == "0") return a.num == b.num;
  if (a.neg != b.neg) return false;
  u128 an, ad, bn, bd;
  if (to_u128(a.num, an) && to_u128(a.den, ad) && to_u128(b.num, bn) && to_u128(b.den, bd)) {
    u128 x, y;
    if (!__builtin_mul_overflow(an, bd, &x) && !__builtin_mul_overflow(bn, ad, &y)) return x == y;
  }
  if (a.den == b.den) return a.num == b.num;  // also covers big integers
  return mul(limbs(a.num), limbs(b.den)) == mul(limbs(b.num), limbs(a.den));
}

Rat rat_div100(Rat r) {
  r.den = strip_zeros(r.den + "00");
  r.places = -1;
  r.normalize();
  return r;
}

std::optional<Rat> rat_add(const Rat& a, const Rat& b) {
  auto x = to_small(a), y = to_small(b);
  if (!x || !y) return std::nullopt;
  auto r = add(*x, *y);
  if (!r) return std::nullopt;
  return from_small(*r);
}

std::optional<Rat> rat_mul(const Rat& a, const Rat& b) {
  auto x = to_small(a), y = to_small(b);
  if (!x || !y) return std::nullopt;
  auto r = mul(*x, *y);
  if (!r) return std::nullopt;
  return from_small(*r);
}

std::optional<Rat> rat_div(const Rat& a, const Rat& b) {
  auto x = to_small(a), y = to_small(b);
  if (!x || !y || y->n == 0) return std::nullopt;
  auto r = mul(*x, Small{y->d, y->n, y->inexact});
  if (!r) return std::nullopt;
  return from_small(*r);
}

Rat rat_neg(Rat a) {
  if (a.num != "0") a.neg = !a.neg;
  return a;
}

int rat_sign(const Rat& a) { return a.num == "0" ? 0 : a.neg ? -1 : 1; }

Node rat_node(const Rat& r) {
  Node num;
  num.kind = NodeKind::num;
  num.text = r.num;
  Node v = num;
  if (r.den != "1") {
    Node den;
    den.kind = NodeKind::num;
    den.text = r.den;
    v = Node{};
    v.kind = NodeKind::div;
    v.kids = {num, den};
  }
  if (r.neg && r.num != "0") {
    Node n;
    n.kind = NodeKind::neg;
    n.kids = {v};
    return n;
  }
  return v;
}

bool rat_rounds_to(const Rat& value, const Rat& literal, bool allow_truncate) {
  if (literal.places < 1 || literal.places > 17 || literal.sig > 17) return false;
  long double v = value.approx(), a = literal.approx();
  if (!std::isfinite(static_cast<double>(v)) || !std::isfinite(static_cast<double>(a))) return false;
  long double unit = std::pow(10.0L, -static_cast<long double>(literal.places));
  long double slack = unit * 1e-9L + std::fabs(a) * 1e-17L;  // long double representation error
  if (std::fabs(v - a) <= unit / 2 + slack) return true;
  if (!allow_truncate) return false;
  // truncation toward zero: a <= v < a + unit (v >= 0), a - unit < v <= a (v < 0)
  if (v >= 0) return v >= a - slack && v < a + unit - slack;
  return v <= a + slack && v > a - unit + slack;
}

bool rat_close(const Rat& a, const Rat& b, double rel_tol) {
  long double x = a.approx(), y = b.approx();
  if (!std::isfinite(static_cast<double>(x)) || !std::isfinite(static_cast<double>(y))) return false;
  long double scale = std::max(std::fabs(x), std::fabs(y));
  if (scale == 0) return true;
  return std::fabs(x - y) <= static_cast<long double>(rel_tol) * scale;
}

}  // namespace reval::answer
