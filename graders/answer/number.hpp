// Exact plain-number fast path (internal to graders/answer). Recognises integers (any length, thousands
// separators "1,234" and "1 234", leading zeros), decimals (also with a decimal comma "3,5" / "1000,99" when the
// comma cannot be a thousands separator), scientific notation, fractions a/b and \frac{a}{b}, mixed numbers
// ("3\frac{1}{2}", "3 1/2") and signs, as exact rationals held as decimal digit strings. Values up to 38 digits are
// reduced with 128-bit arithmetic; longer ones are compared by exact cross multiplication on 10^9 limbs. No GiNaC,
// no CLN, no allocation beyond the digit strings: this is the >100k answers/s path.
#pragma once
#include <optional>
#include <string>
#include <string_view>

#include "graders/answer/latex.hpp"

namespace reval::answer {

struct Rat {
  bool neg = false;
  std::string num = "0";  // digits, no leading zeros ("0" for zero)
  std::string den = "1";  // digits, no leading zeros, never "0"
  bool inexact = false;   // written as a decimal / scientific literal
  int places = -1;        // a plain decimal literal "12.50": its digits after the point (2); -1 otherwise
  int sig = 0;            // ... and its significant digits (4 for "12.50", 3 for "0.333")
  bool comma = false;     // read with a decimal comma ("3,5"): the text may also be the list 3, 5
  void normalize();       // strips leading zeros, reduces when it fits in 128 bits, clears the sign of zero
  std::string canonical() const;  // "-3/4", "12"
  long double approx() const;
};

// `s` should already be clean_latex()ed. Returns nullopt if s is not a plain number.
std::optional<Rat> parse_plain_number(std::string_view s, bool decimal_comma = true);
// Node forms num, neg(num), div(num,num), mixed add(num, div) -> Rat.
std::optional<Rat> node_rational(const Node& n);

bool rat_equal(const Rat& a, const Rat& b);
// Exact arithmetic on values that fit 128 bits (nullopt on overflow or division by zero).
std::optional<Rat> rat_add(const Rat& a, const Rat& b);
std::optional<Rat> rat_mul(const Rat& a, const Rat& b);
std::optional<Rat> rat_div(const Rat& a, const Rat& b);
Rat rat_neg(Rat a);
int rat_sign(const Rat& a);  // -1, 0, 1
// A node for the value: num, neg(num), div(num, num).
Node rat_node(const Rat& r);
// Is `literal` (a plain decimal with r.places >= 1) `value` rounded to its places (half-way cases either way), or,
// with allow_truncate, `value` cut toward zero at its places ("125.663" for 125.6637)? Compared in long double;
// false for literals of more than 17 digits.
bool rat_rounds_to(const Rat& value, const Rat& literal, bool allow_truncate);
Rat rat_div100(Rat r);
// |a-b| <= tol * max(|a|,|b|)
bool rat_close(const Rat& a, const Rat& b, double rel_tol);

}  // namespace reval::answer
