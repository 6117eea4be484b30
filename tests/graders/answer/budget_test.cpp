// The math grader's time budget on generated worst cases (issue 17): every step of the ladder -- extraction, parsing,
// \pm expansion, list pairing, the symbolic step, canonical strings -- must end within the per-comparison budget,
// whatever the input. A `slow` test (it measures wall-clock time, so it stays out of the default suite): each
// pathological answer, and a stream of random combinations of pathological fragments, must be graded in at most
// timeout_s + 1.5 s (the slack covers extraction and the canonical string, which have their own small bounds, on a
// loaded 2-core machine).
#include <chrono>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "graders/answer/math.hpp"
#include "graders/grader.hpp"

namespace {

using Clock = std::chrono::steady_clock;

std::string repeat(const std::string& s, int n, const std::string& sep = "") {
  std::string out;
  for (int i = 0; i < n; ++i) {
    if (i) out += sep;
    out += s;
  }
  return out;
}

std::string numbers(int from, int to, const std::string& sep) {
  std::string out;
  for (int i = from; i < to; ++i) {
    if (i > from) out += sep;
    out += std::to_string(i);
  }
  return out;
}

struct Worst {
  std::string name, response, gold;
};

std::vector<Worst> worst_cases() {
  std::string matrix = "\\begin{pmatrix}" + repeat(repeat("x", 10, "&"), 10, "\\\\") + "\\end{pmatrix}";
  return {
      {"pm_chain", "\\boxed{" + repeat("x", 3000, " \\pm ") + "}", "x \\pm 1"},
      {"pm_nested", "\\boxed{" + repeat("(1 \\pm ", 300) + "1" + repeat(")", 300) + "}", "\\pm 1"},
      {"pm_list", "\\boxed{" + repeat("1 \\pm \\sqrt{2} \\pm \\sqrt{3}", 600, ",") + "}", "1"},
      {"big_int_set", "\\boxed{\\{" + numbers(0, 3000, ",") + "\\}}", "\\{" + numbers(1, 3001, ",") + "\\}"},
      {"big_symbolic_lists", "\\boxed{" + repeat("\\sqrt{2}+x", 1500, ",") + "}", repeat("x+\\sqrt{8}/2+0", 1500, ",")},
      {"deep_parens", "\\boxed{" + repeat("(", 3000) + "x" + repeat(")", 3000) + "}", "x"},
      {"deep_fractions", "\\boxed{" + repeat("\\frac{1}{", 500) + "x" + repeat("}", 500) + "}", "x"},
      {"big_power", "\\boxed{(x+y+z+w)^{60}}", "(w+x+y+z)^{60}"},
      {"power_tower", "\\boxed{2^{2^{2^{2^{2^{2}}}}}}", "2"},
      {"factorial", "\\boxed{(10^{5})!}", "1"},
      {"many_boxes", repeat("\\boxed{7}", 3000, " and "), "7"},
      {"many_spans", repeat("$3$", 4000, " "), "3"},
      {"unbalanced_boxes", repeat("\\boxed{", 3000), "1"},
      {"dollars", repeat("$", 19000), "1"},
      {"relation_chain", "\\boxed{" + repeat("x", 3000, "<") + "}", "x"},
      {"equation_chain", "\\boxed{x" + repeat("=x+1", 2000) + "}", "x"},
      {"matrix_products", "\\boxed{" + repeat(matrix, 8) + "}", "0"},
      {"ratio_chain", "\\boxed{" + numbers(0, 3000, ":") + "}", "1:2"},
      {"periodic_assignments", "\\boxed{" + repeat("p=1,q=2", 1000, ",") + "}", "(1,2)"},
      {"long_decimal", "\\boxed{0." + repeat("3", 15000) + "}", "\\frac{1}{3}"},
      {"linear_inequality", "\\boxed{" + repeat("x", 3000, "+") + " < 5}", "x < 1"},
      {"answer_phrases", repeat("the answer is 1. ", 1100), "1"},
      {"words", "\\boxed{" + repeat("\\text{word}", 1500, " ") + "}", "word"},
  };
}

double grade_seconds(const reval::Grader& g, const std::string& response, const std::string& gold) {
  reval::GradeRequest req;
  req.response = response;
  req.gold = {gold};
  auto t0 = Clock::now();
  auto r = g.grade(req);
  double s = std::chrono::duration<double>(Clock::now() - t0).count();
  EXPECT_NE(r.verdict, reval::Verdict::infra_error) << r.details.dump().substr(0, 300);
  return s;
}

constexpr double kBudget = 2.0;
constexpr double kSlack = 1.5;

TEST(MathBudget, WorstCasesStayWithinTheBudget) {
  auto g = reval::make_math_grader({{"timeout_s", kBudget}});
  for (const auto& w : worst_cases()) {
    double s = grade_seconds(*g, w.response, w.gold);
    EXPECT_LE(s, kBudget + kSlack) << w.name;
    std::cout << w.name << ": " << s << " s\n";
  }
}

TEST(MathBudget, RandomPathologicalCombinations) {
  // Property: any concatenation of pathological fragments is graded within the budget.
  const std::vector<std::string> fragments = {
      " \\pm x", "(", ")", "\\frac{1}{", "}", "\\boxed{", "$", "\\{", "\\}", ",", "=", "<", "\\le", "|", "^{2^{9}}",
      "!", "\\sqrt{", "x", "1", "0.3333", ":", ";", "\\begin{pmatrix}", "\\end{pmatrix}", "&", "\\\\", " and ",
      "\\text{cm}", "\\approx", "\\cup", "[", "]", "e^{x}", "\\sin", "10^{6}", "\\cdot"};
  std::mt19937 rng(17);
  auto g = reval::make_math_grader({{"timeout_s", kBudget}});
  double worst = 0;
  for (int k = 0; k < 60; ++k) {
    std::string s;
    int n = 200 + static_cast<int>(rng() % 3000);
    for (int i = 0; i < n; ++i) s += fragments[rng() % fragments.size()];
    std::string gold;
    int m = 1 + static_cast<int>(rng() % 200);
    for (int i = 0; i < m; ++i) gold += fragments[rng() % fragments.size()];
    double t = grade_seconds(*g, s, gold);
    worst = std::max(worst, t);
    EXPECT_LE(t, kBudget + kSlack) << "input " << k << ": " << s.substr(0, 200);
  }
  std::cout << "worst random case: " << worst << " s\n";
}

}  // namespace
