// Public C++ API of the math answer grader: answer extraction from a model response, an equivalence ladder
// (normalised string -> exact numbers -> symbolic via GiNaC -> structures), and canonical answer strings used for
// cons@k majority voting.
//
// Theory of operation
// -------------------
// * strip_reasoning() (base/reasoning.hpp, the rule shared with the code grader and the rewards) removes the
//   reasoning part of an R1-style completion (everything up to the LAST `</think>`); a `<think>` that never closes,
//   or a completion cut by the length limit before any `</think>`, has no answer.
// * extract_answer() finds the answer span in what is left: the last balanced \boxed{}/\fbox{}, then (each
//   switchable) the bare response, "final answer is", "Answer:", the last $..$/\[..\] span, the last number.
// * math_equal() parses both sides into a small structure tree (tuple / set / list / interval / union / equation /
//   inequality / matrix / ±-expression / plain expression; see latex.hpp) and compares it bottom-up. Leaves go
//   through: (1) normalised string equality, (2) exact rational arithmetic on plain numbers without GiNaC
//   (128-bit fast path, arbitrary length integers by digit string), (3) symbolic: GiNaC `normal(a-b) == 0`, with a
//   randomized high-precision numeric evaluation at several points as the second opinion.
// * GiNaC/CLN are not thread-safe (non-atomic reference counts on shared flyweights, global tables), so every
//   GiNaC computation runs on ONE process-wide worker thread (the "CAS executor"). Callers wait on a deadline
//   (options.timeout_s, default 2 s) and on expiry return a typed timeout; the worker finishes the abandoned job
//   (inputs are bounded up front so every job is finite) and skips queued jobs whose caller already gave up.
//   No signals, no thread cancellation.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/reasoning.hpp"

namespace reval::answer {

// ---------------------------------------------------------------------------------------------------------------
// Options. Every field can be set from the grader's json options with the same name.
struct MathOptions {
  // Extraction fallbacks, tried in this order after \boxed{} (a box is always tried first).
  bool use_bare = true;          // the whole answer text is itself a short formula/number
  bool use_final_answer = true;  // "the final answer is X"
  bool use_answer_colon = true;  // "Answer: X"
  bool use_last_math = true;     // last $...$, $$...$$, \(...\) or \[...\] span
  bool use_last_number = true;   // last number in the text
  // Equivalence.
  double timeout_s = 2.0;   // hard budget per (prediction, gold) comparison, wall clock
  double rel_tol = 1e-9;    // relative tolerance applied ONLY when a side contains a decimal literal
                            // (e.g. 1.4142135624 vs \sqrt{2}); exact inputs are compared exactly
  bool percent_flex = true; // "50\%" also matches 0.5 (and 0.5 matches gold "50\%")
  bool symbolic = true;     // allow the GiNaC step
  int numeric_points = 4;   // random evaluation points of the numeric second opinion
  // A decimal answer given to fewer places than the exact gold ("0.667" for 2/3, "125.663" for 40\pi):
  //   round_or_truncate (default): equal when the gold rounded to the answer's places gives the answer (the answer
  //     has decimal_min_digits+ significant digits) or the gold cut toward zero at them does (one digit more);
  //     inside expressions such a literal allows a relative error of half its last place;
  //   round: rounding only; exact: only rel_tol (the behaviour of reval 1.0).
  enum class DecimalRounding { exact, round, round_or_truncate };
  DecimalRounding decimal_rounding = DecimalRounding::round_or_truncate;
  int decimal_min_digits = 3;  // "0.333" for 1/3 is equal, "0.33" is not; truncation needs 4 ("0.6666")
  bool decimal_comma = true;  // "3,5" is 3.5 against a single number (still the list 3, 5 against a list)
  bool ordered_lists = false; // bare lists "1, 2, 3" compare in order (MATH is_equiv) instead of as sets
  bool extract_gold = true;   // gold answers go through the same extraction as responses (boxes, "final answer")
  std::size_t max_set_items = 10000;  // larger lists/sets are not compared (wrong, with a note saying so)

  static MathOptions from_json(const nlohmann::json& j);  // unknown keys are ignored; bad types throw reval::Error
};

// ---------------------------------------------------------------------------------------------------------------
// Extraction.
struct Extraction {
  std::optional<std::string> answer;  // the raw answer span (LaTeX), unset when nothing was found
  std::string method;                 // "boxed", "boxes" (a group of boxes), "bare", "final_answer",
                                      // "answer_colon", "last_math", "last_number"
  std::string reason;                 // for no answer: "empty", "unterminated_think", "truncated_in_think", ...
};

// The content of the last balanced \boxed{...} / \fbox{...} (or `\boxed 5`) in text, if any.
std::optional<std::string> last_boxed(std::string_view text);

// Full extraction: strip_reasoning + box + fallbacks.
Extraction extract_answer(std::string_view response, const MathOptions& options = {},
                          std::string_view finish_reason = {});
// The same without the reasoning rule (for text that has no think block).
Extraction extract_from_text(std::string_view text, const MathOptions& options = {});
// A gold answer as the grader compares it: with boxes, the box (group); a bare formula as it is; prose ("$125$
// miles", a worked solution ending in "The final answer is $28\%$. I hope it is correct.") through the same
// extraction as responses; the raw gold when nothing is found. With options.extract_gold = false: the last box or
// the raw gold (reval 1.0).
std::string gold_answer(std::string_view gold, const MathOptions& options = {});

// ---------------------------------------------------------------------------------------------------------------
// Equivalence.
struct EqualResult {
  bool equal = false;
  std::string step;        // what decided: "string", "exact_number", "float_tolerance", "symbolic", "numeric",
                           // "structure", "parse_error", "refused", "timeout", "different"
  bool timeout = false;    // the budget ran out before a decision (equal is then false)
  bool refused = false;    // an input was over the size limits (huge exponent, factorial, nesting) for GiNaC
  std::string note;        // a short human-readable explanation
};

// Is `prediction` mathematically equal to `gold`? Both are bare answers (LaTeX or plain text, no surrounding
// prose). Thread-safe; never throws.
EqualResult math_equal(std::string_view prediction, std::string_view gold, const MathOptions& options = {});

// MATH-style normalised string (\left/\right, \dfrac, units, spaces, trailing period, x= prefix, ...).
std::string normalize_answer(std::string_view answer);

// A canonical string for majority voting: equal answers give equal strings as far as cheaply possible. Numbers
// are reduced exact rationals without GiNaC ("0.5", "\frac{1}{2}" -> "1/2"); lists and sets are sorted; "x=5" -> "5";
// other expressions get a GiNaC-normalised print with sorted terms ("(x+1)^2" and "x^2+2x+1" agree), bounded to
// small expansions and 200 ms, else the parsed tree's print; unparseable text gives the normalised string.
std::string canonical_answer(std::string_view answer);

// Statistics of the process-wide CAS executor (for tests and benchmarks).
struct CasStats {
  std::uint64_t jobs_run = 0;
  std::uint64_t jobs_skipped = 0;    // their caller had already timed out before they started
  std::uint64_t jobs_timed_out = 0;  // callers that gave up waiting
};
CasStats cas_stats();

}  // namespace reval::answer
