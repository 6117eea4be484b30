// The rating math of results/rating.hpp: hand-computed small contests (points and ICPC scoring, ties, a model that
// solves nothing or everything), the bisection against a brute-force scan, the problem-rating MLE against closed
// forms and a direct numeric optimisation of the likelihood, and percentiles at the edges of the shared histogram.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <random>

#include <fmt/format.h>

#include "base/error.hpp"
#include "results/rating.hpp"
#include "tests/test_util.hpp"

using namespace reval;

namespace {

// A field of rated participants, given as (points, penalty, old rating).
ContestStandings contest(ContestScoring scoring, std::vector<ContestProblem> problems,
                         std::vector<std::tuple<double, double, int>> field) {
  ContestStandings c;
  c.id = 1;
  c.name = "hand";
  c.scoring = scoring;
  c.problems = std::move(problems);
  int i = 0;
  for (auto [pts, pen, old] : field) c.field.push_back({fmt::format("u{}", i++), pts, pen, old});
  return c;
}

// Hand-sized fields of equal ratings (so the answers have closed forms) need a wider search interval than the
// default max old rating + 100, which real fields (ratings 0..3800) never reach.
StandingsOptions tiny() {
  StandingsOptions o;
  o.min_field = 0;
  o.bound_margin = 1000;
  return o;
}

ProblemAttempts solved_at(int first_pass, int attempts = 8) { return {attempts, first_pass}; }
ProblemAttempts unsolved(int attempts = 8) { return {attempts, -1}; }

}  // namespace

TEST(EloMath, WinProbability) {
  EXPECT_DOUBLE_EQ(elo_win_probability(1500, 1500), 0.5);
  EXPECT_NEAR(elo_win_probability(1900, 1500), 10.0 / 11.0, 1e-12);  // 400 points: odds 10:1
  EXPECT_NEAR(elo_win_probability(1500, 1900), 1.0 / 11.0, 1e-12);
  EXPECT_NEAR(expected_place(1500, {1500, 1500}), 2.0, 1e-12);      // 1 + 0.5 + 0.5
}

// Points scoring: A = 500 solved at the first attempt, B = 1000 at the third (2 failed: -100) -> 1400 points.
// One of three 1500-rated participants is ahead: place 2, so 1 + 3 / (1 + 10^((r - 1500)/400)) = 2,
// 10^((r - 1500)/400) = 2, r = 1500 + 400 log10 2.
TEST(ContestRating, PointsScoringHandComputed) {
  auto c = contest(ContestScoring::points, {{"1A", 500}, {"1B", 1000}}, {{1500, 0, 1500}, {1000, 0, 1500}, {0, 0, 1500}});
  auto p = rate_contest(c, {{"1A", solved_at(0)}, {"1B", solved_at(2)}}, tiny());
  EXPECT_DOUBLE_EQ(p.score, 1400);
  EXPECT_EQ(p.solved, 2);
  EXPECT_EQ(p.better, 1);
  EXPECT_EQ(p.tied, 0);
  EXPECT_DOUBLE_EQ(p.place, 2.0);
  EXPECT_NEAR(p.rating, 1500 + 400 * std::log10(2.0), 1e-5);
  EXPECT_EQ(p.clamped, 0);
  EXPECT_DOUBLE_EQ(p.problems[1].points, 900);
  // The floor of a problem's score is 0: eleven failed attempts at a 500-point problem earn nothing.
  auto q = rate_contest(c, {{"1A", solved_at(11, 12)}, {"1B", unsolved()}}, tiny());
  EXPECT_DOUBLE_EQ(q.score, 0);
  EXPECT_EQ(q.solved, 1);
}

// ICPC style: two solved (B after one failed attempt: penalty 10, solve time taken as 0). Field of four 1500s:
// (3, 50) ahead, (2, 10) tied, (2, 30) and (1, 0) behind -> place 1 + 1 + 1/2 = 2.5:
// 4 / (1 + 10^x) = 1.5 -> 10^x = 5/3 -> r = 1500 + 400 log10(5/3).
TEST(ContestRating, IcpcScoringWithTieHandComputed) {
  auto c = contest(ContestScoring::icpc, {{"1A", 0}, {"1B", 0}, {"1C", 0}},
                   {{3, 50, 1500}, {2, 10, 1500}, {2, 30, 1500}, {1, 0, 1500}});
  auto p = rate_contest(c, {{"1A", solved_at(0)}, {"1B", solved_at(1)}, {"1C", unsolved()}}, tiny());
  EXPECT_DOUBLE_EQ(p.score, 2);
  EXPECT_DOUBLE_EQ(p.penalty, 10);
  EXPECT_EQ(p.better, 1);
  EXPECT_EQ(p.tied, 1);
  EXPECT_DOUBLE_EQ(p.place, 2.5);
  EXPECT_NEAR(p.rating, 1500 + 400 * std::log10(5.0 / 3.0), 1e-5);
  // Without the failed attempt the penalty is 0 and the model is ahead of (2, 10): place 2.
  auto q = rate_contest(c, {{"1A", solved_at(0)}, {"1B", solved_at(0)}, {"1C", unsolved()}}, tiny());
  EXPECT_DOUBLE_EQ(q.place, 2.0);
  EXPECT_GT(q.rating, p.rating);
}

// Points ties: equal points (penalty 0 everywhere in points-scored rounds) count half.
TEST(ContestRating, PointsTiesCountHalf) {
  auto c = contest(ContestScoring::points, {{"1A", 500}}, {{500, 0, 1500}, {500, 0, 1500}, {0, 0, 1500}, {0, 0, 1500}});
  auto p = rate_contest(c, {{"1A", solved_at(0)}}, tiny());
  EXPECT_EQ(p.better, 0);
  EXPECT_EQ(p.tied, 2);
  EXPECT_DOUBLE_EQ(p.place, 2.0);  // 1 + 0 + 2/2
  // 4 / (1 + 10^x) = 1 -> 10^x = 3
  EXPECT_NEAR(p.rating, 1500 + 400 * std::log10(3.0), 1e-5);
}

// Solves nothing: tied with the two zero-point participants, behind two -> place 4: 4 P = 3, r = 1500 - 400 log10 3.
// Solves nothing in a field where everyone scored: last, beyond what any rating explains -> the lower bound.
TEST(ContestRating, SolvesNothing) {
  auto c = contest(ContestScoring::points, {{"1A", 500}, {"1B", 1000}},
                   {{1000, 0, 1500}, {500, 0, 1500}, {0, 0, 1500}, {0, 0, 1500}});
  auto p = rate_contest(c, {{"1A", unsolved()}, {"1B", unsolved()}}, tiny());
  EXPECT_DOUBLE_EQ(p.score, 0);
  EXPECT_DOUBLE_EQ(p.place, 4.0);
  EXPECT_NEAR(p.rating, 1500 - 400 * std::log10(3.0), 1e-5);
  EXPECT_EQ(p.clamped, 0);
  auto all_scored = contest(ContestScoring::points, {{"1A", 500}}, {{400, 0, 1200}, {300, 0, 1900}});
  auto q = rate_contest(all_scored, {{"1A", unsolved()}}, tiny());
  EXPECT_DOUBLE_EQ(q.place, 3.0);  // n + 1: expected place only reaches it at r = -infinity
  EXPECT_EQ(q.clamped, -1);
  EXPECT_DOUBLE_EQ(q.rating, 1200 - 1000);
  EXPECT_DOUBLE_EQ(q.lower_bound, 200);
}

// Solves everything: first place, better than any finite rating explains -> the issue's bound, max old + 100.
TEST(ContestRating, SolvesEverything) {
  auto c = contest(ContestScoring::icpc, {{"1A", 0}, {"1B", 0}}, {{2, 30, 2400}, {1, 0, 1500}, {0, 0, 900}});
  StandingsOptions o;
  o.min_field = 0;  // default bound: max old rating + 100
  auto p = rate_contest(c, {{"1A", solved_at(0)}, {"1B", solved_at(0)}}, o);
  EXPECT_DOUBLE_EQ(p.place, 1.0);
  EXPECT_EQ(p.clamped, +1);
  EXPECT_DOUBLE_EQ(p.rating, 2500);
  EXPECT_DOUBLE_EQ(p.upper_bound, 2500);
}

TEST(ContestRating, RefusesSmallFieldsAndMissingProblems) {
  auto c = contest(ContestScoring::points, {{"1A", 500}, {"1B", 1000}}, {{500, 0, 1500}, {0, 0, 1500}});
  StandingsOptions o;  // default: at most 200 rated participants -> skipped
  try {
    rate_contest(c, {{"1A", solved_at(0)}, {"1B", unsolved()}}, o);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("only 2 rated participants"), std::string::npos) << e.what();
  }
  try {
    rate_contest(c, {{"1A", solved_at(0)}}, tiny());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no graded samples of 1B"), std::string::npos) << e.what();
  }
  StandingsOptions lenient = tiny();
  lenient.missing_as_unsolved = true;
  auto p = rate_contest(c, {{"1A", solved_at(0)}}, lenient);
  EXPECT_TRUE(p.problems[1].missing);
  EXPECT_DOUBLE_EQ(p.score, 500);
}

// The bisection against a brute-force scan of expected_place over a 0.01 grid, on random fields and places.
TEST(ContestRating, BisectionMatchesBruteForceScan) {
  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 30; ++trial) {
    int n = 1 + static_cast<int>(rng() % 40);
    std::vector<double> olds;
    for (int i = 0; i < n; ++i) olds.push_back(static_cast<double>(rng() % 3500));
    double lo = *std::min_element(olds.begin(), olds.end()) - 100, hi = *std::max_element(olds.begin(), olds.end()) + 100;
    double place = 1.0 + 0.5 * static_cast<double>(rng() % (2 * n + 1));  // 1, 1.5, ..., n + 1
    PlaceSolution s = rating_for_place(place, olds, lo, hi);
    // Brute force: the smallest grid point at which the expected place is no longer worse than `place`.
    // (A step-1 scan finds the unit interval, a step-0.01 scan inside it the point.)
    double found = NAN;
    for (double r = lo; r <= hi + 1e-9; r += 1.0)
      if (expected_place(r, olds) <= place) {
        found = r;
        for (double f = std::max(lo, r - 1.0); f <= r; f += 0.01)
          if (expected_place(f, olds) <= place) {
            found = f;
            break;
          }
        break;
      }
    if (std::isnan(found)) {
      EXPECT_EQ(s.clamped, +1) << "trial " << trial;
      EXPECT_DOUBLE_EQ(s.rating, hi);
    } else if (found == lo && expected_place(lo, olds) < place) {
      EXPECT_EQ(s.clamped, -1) << "trial " << trial;
      EXPECT_DOUBLE_EQ(s.rating, lo);
    } else {
      EXPECT_EQ(s.clamped, 0) << "trial " << trial;
      EXPECT_NEAR(s.rating, found, 0.011) << "trial " << trial << " place " << place;
      EXPECT_NEAR(expected_place(s.rating, olds), place, 1e-6);
    }
  }
}

// ---- problem ratings ----

TEST(ProblemRating, ClosedFormWithEqualDifficulties) {
  // n problems all rated d, k solved: sum P = k -> P = k/n -> r = d + 400 log10(k / (n - k)).
  std::vector<RatedProblem> ps;
  for (int i = 0; i < 10; ++i) ps.push_back({fmt::format("p{}", i), 1600, i < 3});
  MleRating m = rating_from_problems(ps);
  EXPECT_EQ(m.solved, 3);
  EXPECT_EQ(m.censored, Censoring::none);
  EXPECT_NEAR(m.rating, 1600 + 400 * std::log10(3.0 / 7.0), 1e-5);
  // Fisher information: (ln10/400)^2 * n p (1 - p).
  double info = std::pow(std::log(10.0) / 400, 2) * 10 * 0.3 * 0.7;
  EXPECT_NEAR(m.se, 1 / std::sqrt(info), 1e-6);
  EXPECT_LT(m.ci_lo, m.rating);
  EXPECT_GT(m.ci_hi, m.rating);
}

// The score-equation root against a direct maximisation of the log-likelihood (golden-section search), and the
// interval ends against the likelihood-ratio definition.
TEST(ProblemRating, MleMatchesDirectNumericOptimisation) {
  std::mt19937_64 rng(11);
  for (int trial = 0; trial < 25; ++trial) {
    std::vector<RatedProblem> ps;
    int n = 3 + static_cast<int>(rng() % 30);
    for (int i = 0; i < n; ++i) {
      double d = 800 + 100.0 * static_cast<double>(rng() % 28);
      ps.push_back({fmt::format("p{}", i), d, false});
    }
    // Outcomes: solve what a 1700-ish model would, with noise; make sure neither all nor none are solved.
    for (auto& p : ps) p.solved = (rng() % 1000) < 1000.0 * elo_win_probability(1700, p.rating);
    ps[0].solved = true;
    ps[1].solved = false;
    MleRating m = rating_from_problems(ps);
    ASSERT_EQ(m.censored, Censoring::none);
    double a = -3000, b = 7000;
    const double g = (std::sqrt(5.0) - 1) / 2;
    for (int i = 0; i < 300; ++i) {
      double x1 = b - g * (b - a), x2 = a + g * (b - a);
      if (problem_log_likelihood(x1, ps) < problem_log_likelihood(x2, ps)) a = x1;
      else b = x2;
    }
    double direct = 0.5 * (a + b);
    EXPECT_NEAR(m.rating, direct, 1e-3) << "trial " << trial;
    EXPECT_NEAR(m.log_likelihood, problem_log_likelihood(direct, ps), 1e-9);
    double half_q = 0.5 * std::pow(normal_quantile(0.975), 2);  // 1.9207...
    EXPECT_NEAR(half_q, 1.920729, 1e-5);
    EXPECT_NEAR(problem_log_likelihood(m.ci_lo, ps), m.log_likelihood - half_q, 1e-6) << "trial " << trial;
    EXPECT_NEAR(problem_log_likelihood(m.ci_hi, ps), m.log_likelihood - half_q, 1e-6) << "trial " << trial;
  }
}

TEST(ProblemRating, CensoredWhenAllOrNoneSolved) {
  std::vector<RatedProblem> all = {{"a", 1200, true}, {"b", 1500, true}, {"c", 1900, true}};
  MleRating m = rating_from_problems(all);
  EXPECT_EQ(m.censored, Censoring::all_solved);
  EXPECT_TRUE(std::isinf(m.ci_hi) && m.ci_hi > 0);
  EXPECT_TRUE(std::isnan(m.se));
  EXPECT_DOUBLE_EQ(m.rating, m.ci_lo);  // a lower limit
  // At the limit the likelihood of solving all three is exp(-1.92).
  EXPECT_NEAR(problem_log_likelihood(m.ci_lo, all), -0.5 * std::pow(normal_quantile(0.975), 2), 1e-6);
  std::vector<RatedProblem> none = {{"a", 1200, false}, {"b", 1500, false}};
  MleRating z = rating_from_problems(none);
  EXPECT_EQ(z.censored, Censoring::none_solved);
  EXPECT_TRUE(std::isinf(z.ci_lo) && z.ci_lo < 0);
  EXPECT_DOUBLE_EQ(z.rating, z.ci_hi);
  EXPECT_NEAR(problem_log_likelihood(z.ci_hi, none), -0.5 * std::pow(normal_quantile(0.975), 2), 1e-6);
  EXPECT_LT(z.rating, 1500);
  EXPECT_GT(m.rating, 1200);
  EXPECT_THROW(rating_from_problems({}), Error);
}

TEST(ProblemRating, NormalQuantile) {
  EXPECT_NEAR(normal_quantile(0.975), 1.959964, 1e-6);
  EXPECT_NEAR(normal_quantile(0.5), 0.0, 1e-9);
  EXPECT_NEAR(normal_quantile(0.05), -1.644854, 1e-6);
  EXPECT_THROW(normal_quantile(1.0), Error);
}

// ---- percentiles ----

TEST(Percentile, SharedHistogramEdges) {
  std::string path = test::shared_path("data/codeforces/ratings/user_rating_histogram.json");
  RatingDistribution d = RatingDistribution::load(path);
  const double n = 717421;
  EXPECT_EQ(d.users(), 717421);
  EXPECT_DOUBLE_EQ(d.min_rating(), -53);
  EXPECT_DOUBLE_EQ(d.max_rating(), 4009);
  EXPECT_DOUBLE_EQ(d.percentile(-1000), 0.0);   // below everyone
  EXPECT_DOUBLE_EQ(d.percentile(-53), 0.0);     // strictly below: the lowest user is not below -53
  EXPECT_DOUBLE_EQ(d.percentile(-52.5), 100.0 / n);  // one user (-53) below
  EXPECT_DOUBLE_EQ(d.percentile(4009), 100.0 * (n - 1) / n);  // all but the top user
  EXPECT_DOUBLE_EQ(d.percentile(4009.5), 100.0);
  EXPECT_DOUBLE_EQ(d.percentile(5000), 100.0);
  // SOURCES.md: rating 2029 is the 98.1th percentile of this population.
  EXPECT_NEAR(d.percentile(2029), 98.06, 0.01);
  EXPECT_EQ(d.population(), "all 717,421 rated Codeforces accounts in user_rating_histogram.json");
}

TEST(Percentile, OtherFormatsAndErrors) {
  test::TempDir dir;
  std::ofstream(dir.file("list.json")) << "[1000, 1200, 1200, 1900]";  // CodeElo's sorted_ratings.json shape
  RatingDistribution l = RatingDistribution::load(dir.file("list.json"));
  EXPECT_EQ(l.users(), 4);
  EXPECT_DOUBLE_EQ(l.percentile(1200), 25.0);
  EXPECT_DOUBLE_EQ(l.percentile(1201), 75.0);
  std::ofstream(dir.file("pop.json")) << R"({"population": "active contestants 2024", "histogram": [[1500, 3], [1000, 1]]})";
  RatingDistribution p = RatingDistribution::load(dir.file("pop.json"));
  EXPECT_EQ(p.population(), "active contestants 2024");
  EXPECT_DOUBLE_EQ(p.percentile(1500), 25.0);  // unsorted histogram is sorted
  EXPECT_EQ(RatingDistribution::load(dir.file("pop.json"), "override").population(), "override");
  auto fails_with = [&](const std::string& text, const std::string& field) {
    std::ofstream(dir.file("bad.json")) << text;
    try {
      RatingDistribution::load(dir.file("bad.json"));
      ADD_FAILURE() << text;
    } catch (const Error& e) {
      std::string m = e.what();
      EXPECT_NE(m.find("bad.json"), std::string::npos) << m;
      EXPECT_NE(m.find(field), std::string::npos) << m;
    }
  };
  fails_with(R"({"histogram": [[1500, -1]]})", "histogram[0]");
  fails_with(R"({"histogram": [[1500, 2]], "users": 3})", "users");
  fails_with(R"({"histogram": []})", "histogram");
  fails_with(R"({"users": 3})", "histogram");
  fails_with("[1, \"x\"]", "[1]");
  fails_with("{not json", "invalid JSON");
}
