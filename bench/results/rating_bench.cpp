// Cost of the Codeforces-style ratings on realistic sizes (a big Div. 2 round has 20-35 thousand rated
// participants and 6-8 problems):
//   ParseStandings/N : parse_codeforces_contest on the API's JSON (N standings rows, 7 problems, as the API sends
//                      them: party, problemResults, ...); counters: rows/s and MB/s of JSON.
//   RateContest/N    : rate_contest on a parsed field of N (scoring, placing, bisection for the rating).
//   ProblemMle/N     : rating_from_problems with N rated problems (MLE + profile-likelihood interval).
// Run: ./bench/results/rating_bench
#include <benchmark/benchmark.h>

#include <random>

#include "results/codeforces_standings.hpp"
#include "results/rating.hpp"
#include "tests/results/codeforces_fixtures.hpp"

using namespace reval;

namespace {

void ParseStandings(benchmark::State& state) {
  auto c = test::big_contest(1, "CF", static_cast<int>(state.range(0)), 7);
  std::string s = test::standings_json(c).dump(), r = test::rating_changes_json(c).dump();
  for (auto _ : state) benchmark::DoNotOptimize(parse_codeforces_contest(s, "s.json", r, "r.json"));
  state.counters["rows/s"] = benchmark::Counter(static_cast<double>(state.iterations() * state.range(0)),
                                                benchmark::Counter::kIsRate);
  state.counters["MB/s"] = benchmark::Counter(static_cast<double>(state.iterations()) * (s.size() + r.size()) / 1e6,
                                              benchmark::Counter::kIsRate);
}
BENCHMARK(ParseStandings)->Arg(1000)->Arg(30000)->Unit(benchmark::kMillisecond);

void RateContest(benchmark::State& state) {
  auto c = test::big_contest(1, "CF", static_cast<int>(state.range(0)), 7);
  ContestStandings parsed =
      parse_codeforces_contest(test::standings_json(c).dump(), "s", test::rating_changes_json(c).dump(), "r");
  std::map<std::string, ProblemAttempts> attempts;
  for (int k = 0; k < 7; ++k) attempts[std::string("1") + static_cast<char>('A' + k)] = {8, k < 3 ? k : -1};
  for (auto _ : state) benchmark::DoNotOptimize(rate_contest(parsed, attempts));
}
BENCHMARK(RateContest)->Arg(1000)->Arg(30000)->Unit(benchmark::kMillisecond);

void ProblemMle(benchmark::State& state) {
  std::mt19937_64 rng(1);
  std::vector<RatedProblem> ps;
  for (int i = 0; i < state.range(0); ++i) {
    double d = 800 + 100.0 * static_cast<double>(rng() % 28);
    ps.push_back({"p", d, (rng() % 1000) < 1000 * elo_win_probability(1700, d)});
  }
  for (auto _ : state) benchmark::DoNotOptimize(rating_from_problems(ps));
}
BENCHMARK(ProblemMle)->Arg(50)->Arg(1000)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
