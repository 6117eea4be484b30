// The symbolic step (internal to graders/answer): bounds checks on the Node trees, then a comparison run by GiNaC
// on the single process-wide CAS worker thread, waited for with a deadline. See cas.cpp for the design.
#pragma once
#include <chrono>
#include <optional>
#include <string>

#include "graders/answer/latex.hpp"
#include "graders/answer/math.hpp"

namespace reval::answer {

using Clock = std::chrono::steady_clock;

enum class CasVerdict { equal, different, inconclusive, timeout, refused };

struct CasResult {
  CasVerdict verdict = CasVerdict::inconclusive;
  std::string step;  // "symbolic", "numeric", "exact", ...
  std::string note;
};

enum class CasMode {
  value,         // a == b
  proportional,  // a == c * b for a nonzero constant c (equations written as lhs - rhs)
};

// Refuses (returns a reason) trees that could make GiNaC run unboundedly: huge literal powers (10^{10^{10}}),
// huge factorials/binomials, too many nodes. Pure, thread-safe.
std::string cas_refusal(const Node& n, double max_terms = 20000);

// Runs the comparison on the CAS worker. `inexact`: a side had a decimal literal, so rel_tol applies to the
// numeric check. Never throws.
CasResult cas_compare(const Node& a, const Node& b, CasMode mode, bool inexact, const MathOptions& options,
                      Clock::time_point deadline);

// Does `other` evaluate (40 digits) to a real number that rounds to the decimal `literal` at `places` digits after the
// point, or with allow_truncate is cut toward zero to it? ("1.732" for \sqrt{3}, "125.663" for 40\pi.)
CasResult cas_rounds_to(const Node& literal, int places, const Node& other, bool allow_truncate,
                        Clock::time_point deadline);

// A canonical print of the expression after GiNaC normal() with expanded numerator and denominator, with the terms
// of every sum and product sorted by their printed form (so it does not depend on GiNaC's hash order, which varies
// between processes). nullopt on refusal, timeout or failure. Used for cons@k voting strings.
std::optional<std::string> cas_canonical(const Node& n, Clock::time_point deadline);

}  // namespace reval::answer
