// Throughput of the math grader's fast path (integers, rationals: no GiNaC) and latency percentiles of symbolic
// comparisons (GiNaC on the CAS worker). Run from the build folder:
//   ./bench/graders_answer/graders_answer_bench --benchmark_min_time=1
// items_per_second is answers/s on one core (single-threaded benchmark); the symbolic benchmark reports p50/p99/max
// latency in milliseconds as counters.
#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "graders/answer/math.hpp"
#include "graders/grader.hpp"

namespace {

struct Pair {
  std::string response, gold;
};

const std::vector<Pair>& integer_cases() {
  static const std::vector<Pair> v = {
      {"<think>so 12+30=42</think>\nThe answer is $\\boxed{42}$.", "42"},
      {"\\boxed{7,425,000}", "7425000"},
      {"Thus the final answer is 025.", "25"},
      {"\\boxed{123456789012345678901234567890}", "123456789012345678901234567890"},
      {"\\boxed{17}", "18"},
      {"Answer: 1000", "1000"},
  };
  return v;
}
const std::vector<Pair>& rational_cases() {
  static const std::vector<Pair> v = {
      {"<think>...</think>\n$\\boxed{\\frac{3}{4}}$", "0.75"},
      {"\\boxed{\\dfrac{6}{8}}", "\\frac34"},
      {"\\boxed{-2.5}", "-\\frac{5}{2}"},
      {"\\boxed{3\\frac{1}{2}}", "7/2"},
      {"\\boxed{0.125}", "1/8"},
      {"\\boxed{\\frac{1}{3}}", "\\frac{2}{3}"},
  };
  return v;
}
const std::vector<Pair>& symbolic_cases() {
  static const std::vector<Pair> v = {
      {"\\boxed{\\sqrt{1/n}}", "\\frac{1}{\\sqrt{n}}"},
      {"\\boxed{x^2+2x+1}", "(x+1)^2"},
      {"\\boxed{1-\\frac{1}{e}}", "1+\\frac{1}{e}"},
      {"\\boxed{2\\sqrt{2}}", "\\sqrt{8}"},
      {"\\boxed{\\frac{1}{2004!}}", "\\frac{1}{2006!}"},
      {"\\boxed{\\sin^2 x+\\cos^2 x}", "1"},
      {"\\boxed{\\left(3, \\frac{\\pi}{2}\\right)}", "(3, \\frac{\\pi}{2})"},
      {"\\boxed{\\frac{-1\\pm\\sqrt{5}}{2}}", "\\frac{-1+\\sqrt5}{2}, \\frac{-1-\\sqrt5}{2}"},
      {"\\boxed{y=2x+1}", "y-2x-1=0"},
      {"\\boxed{\\begin{pmatrix} \\frac{1}{\\sqrt2} \\\\ \\frac{\\sqrt2}{2} \\end{pmatrix}}", "(\\frac{\\sqrt2}{2}, \\frac{\\sqrt2}{2})"},
      {"\\boxed{\\frac{3+\\sqrt{5}}{2}}", "\\left(\\frac{1+\\sqrt{5}}{2}\\right)^2"},
      {"\\boxed{\\log_2 8 + \\ln(e^2)}", "5"},
  };
  return v;
}

// Messier free text (issue 13): answer phrases, box groups, joined spans, gold answers that need extraction.
const std::vector<Pair>& free_text_cases() {
  static const std::vector<Pair> v = {
      {"Final Answer: the smallest $k$ is 12.", "12"},
      {"The roots are $\\boxed{3}$ and $\\boxed{5}$.", "$x = 3$ or $x = 5$"},
      {"so the total is 1,234 apples", "1234"},
      {"The values $2$, $3$ and $5$ work.", "2, 3, 5"},
      {"... Final Answer: The final answer is $28\\%$. I hope it is correct.", "$28\\%$"},
      {"<think>hmm</think><answer> 42 </answer>", "The answer is $42$."},
  };
  return v;
}

void run_cases(benchmark::State& state, const std::vector<Pair>& cases) {
  auto g = reval::make_math_grader({});
  std::size_t k = 0;
  for (auto _ : state) {
    const auto& c = cases[k++ % cases.size()];
    reval::GradeRequest req;
    req.response = c.response;
    req.gold = {c.gold};
    auto r = g->grade(req);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

void BM_GradeInteger(benchmark::State& state) { run_cases(state, integer_cases()); }
void BM_GradeRational(benchmark::State& state) { run_cases(state, rational_cases()); }
void BM_GradeFreeText(benchmark::State& state) { run_cases(state, free_text_cases()); }

void BM_MathEqualInteger(benchmark::State& state) {
  for (auto _ : state) {
    auto r = reval::answer::math_equal("7,425,000", "7425000");
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

void BM_GradeSymbolic(benchmark::State& state) {
  auto g = reval::make_math_grader({});
  std::vector<double> ms;
  std::size_t k = 0;
  for (auto _ : state) {
    const auto& c = symbolic_cases()[k++ % symbolic_cases().size()];
    reval::GradeRequest req;
    req.response = c.response;
    req.gold = {c.gold};
    auto t0 = std::chrono::steady_clock::now();
    auto r = g->grade(req);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    benchmark::DoNotOptimize(r);
  }
  std::sort(ms.begin(), ms.end());
  if (!ms.empty()) {
    state.counters["p50_ms"] = ms[ms.size() / 2];
    state.counters["p99_ms"] = ms[std::min(ms.size() - 1, ms.size() * 99 / 100)];
    state.counters["max_ms"] = ms.back();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

BENCHMARK(BM_GradeInteger);
BENCHMARK(BM_GradeRational);
BENCHMARK(BM_GradeFreeText);
BENCHMARK(BM_MathEqualInteger);
BENCHMARK(BM_GradeSymbolic)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
