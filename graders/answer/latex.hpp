// The LaTeX answer parser: cleans a LaTeX answer string and parses it into a small expression tree (Node) and, one
// level up, into an answer structure (Value: tuple, set, interval, equation, matrix, ...). Pure C++, no GiNaC, no
// global state: thread-safe and bounded (input length, nesting depth), it throws nothing: a failure is reported as
// std::nullopt / ValueKind::text with the error message.
//
// Conventions (documented choices where LaTeX answers are ambiguous):
// * `e` is Euler's number and `i` the imaginary unit; other letters are variables; `xy` is x*y (implicit product).
// * `2^10` takes the whole digit run as the exponent (plain-text intent) although TeX would read 2^{1}0.
// * `3\frac{1}{2}` (an integer literal followed directly by a numeric \frac) is the mixed number 7/2.
// * `\sin 2x` is sin(2x): a function without parentheses takes the following product of simple factors.
// * `a \pm b` is kept as a PM node: it denotes the two values a+b and a-b (expanded by the comparer into a set).
// * `1.5e3` is scientific notation when `e` is directly followed by digits (optionally signed).
#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace reval::answer {

enum class NodeKind : unsigned char {
  num,    // text: decimal literal "123" or "12.50" (exact)
  sym,    // text: variable name ("x", "x_1", "alpha")
  pi, e, imag, inf,
  add,    // kids: terms (subtraction is add(a, neg(b)))
  mul,    // kids: factors
  div,    // kids: numerator, denominator
  pow,    // kids: base, exponent
  neg,    // kids: operand
  func,   // text: sin cos tan sec csc cot asin acos atan sinh cosh tanh ln log exp abs floor ceil; kids: args
          // (log with 2 kids is log base kids[1])
  fact,   // kids: operand
  binom,  // kids: n, k
  pm,     // kids: a, b  meaning a + b or a - b (a is num "0" for a unary \pm)
};

struct Node {
  NodeKind kind = NodeKind::num;
  std::string text;
  std::vector<Node> kids;
  bool decimal = false;  // num: written with a decimal point or as a percentage (an inexact literal)
};

struct ParseLimits {
  std::size_t max_length = 20000;  // characters of input
  int max_depth = 400;             // recursion depth of the descent (about 6 frames per parenthesis level)
};

// Removes presentation-only LaTeX: \left/\right/\big, spacing (\! \, \; \quad ~), \displaystyle, $ signs,
// \dfrac/\tfrac -> \frac, \dbinom -> \binom, degrees (^\circ), \%, trailing periods, unit words in \text{..},
// \text{ or }/\text{ and } -> ",", "{,}" thousands separators. Keeps meaning-bearing text.
std::string clean_latex(std::string_view s);

// Parses one expression (no top-level commas or relations). Sets *error on failure.
std::optional<Node> parse_expr(std::string_view latex, std::string* error = nullptr, const ParseLimits& limits = {});

// Prints a node in a canonical plain syntax (used for canonical answers and diagnostics).
std::string to_string(const Node& n);

// Does the node contain a free variable?
bool has_symbols(const Node& n);
std::size_t node_count(const Node& n);

enum class ValueKind : unsigned char {
  expr,      // expr
  tuple,     // items; open/close are the bracket characters '(' '[' ...
  interval,  // items: lo, hi; open '(' or '[', close ')' or ']'
  set,       // items, order-free, \{ ... \}
  list,      // bare comma list, order-free (solution lists)
  uni,       // union of intervals / sets (items), order-free
  equation,  // items: lhs, rhs
  relation,  // chained inequality: items are expressions, ops between them ("<", "<=", ">", ">=", "!=")
  matrix,    // items: row-major entries; rows x cols
  ratio,     // items: the parts of "a:b" / "a:b:c" (also times "12:00")
  text,      // could not be parsed: compare as normalised string only
};

struct Value {
  ValueKind kind = ValueKind::text;
  Node expr;
  std::vector<Value> items;
  std::vector<std::string> ops;
  char open = 0, close = 0;
  int rows = 0, cols = 0;
  bool chain = false;  // equation: written as a chain "x = 5 + 6 = 11" (items are its first and last sides)
  std::string source;  // the cleaned text it came from
  std::string error;   // for text: why parsing failed
};

// Parses a cleaned or raw answer into a structure; never throws; ValueKind::text on failure.
Value parse_value(std::string_view latex, const ParseLimits& limits = {});

// Is the (cleaned) text a name rather than a value: "x", "y_1", "f(x)", "f(2)", "(p, q)", "|AB|", "S_1:S_2",
// "\frac{NO}{BO}", "\angle ABC"? Letters, subscripts, Greek letters and the punctuation of names; no digits
// outside subscripts and call parentheses, no arithmetic operators. Used to drop "name =" from answers.
bool name_like(std::string_view cleaned);

// Is w a unit that clean_latex drops after a number ("cm", "miles", "units", "hours")?
bool is_unit_word(std::string_view w);

// Splits at top-level (bracket depth 0) occurrences of `sep` (a single character).
std::vector<std::string> split_top_level(std::string_view s, char sep);

}  // namespace reval::answer
