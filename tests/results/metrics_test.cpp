// Metrics: hand-computed pass@k and cons@k cases, task aggregation with infra errors, the bootstrap interval's
// coverage and the paired test's size checked by seeded simulation.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "base/error.hpp"
#include "results/metrics.hpp"

using namespace reval;

namespace {

// 1 - C(n-c, k) / C(n, k) through log-binomials: an independent reference for the product form.
double pass_at_k_reference(int n, int c, int k) {
  if (n - c < k) return 1.0;
  auto lchoose = [](int a, int b) { return std::lgamma(a + 1.0) - std::lgamma(b + 1.0) - std::lgamma(a - b + 1.0); };
  return 1.0 - std::exp(lchoose(n - c, k) - lchoose(n, k));
}

SampleOutcome scored(int idx, bool correct, std::optional<std::string> answer) {
  SampleOutcome s;
  s.sample_index = idx;
  s.kind = OutcomeKind::scored;
  s.correct = correct;
  s.answer = std::move(answer);
  return s;
}

SampleOutcome other(int idx, OutcomeKind kind) {
  SampleOutcome s;
  s.sample_index = idx;
  s.kind = kind;
  return s;
}

}  // namespace

TEST(PassAtK, HandComputedCases) {
  EXPECT_DOUBLE_EQ(pass_at_k(4, 1, 2), 0.5);            // 1 - C(3,2)/C(4,2) = 1 - 3/6
  EXPECT_NEAR(pass_at_k(5, 2, 2), 0.7, 1e-12);          // 1 - C(3,2)/C(5,2) = 1 - 3/10
  EXPECT_NEAR(pass_at_k(10, 3, 3), 1.0 - 35.0 / 120.0, 1e-12);  // C(7,3)=35, C(10,3)=120
  EXPECT_DOUBLE_EQ(pass_at_k(4, 3, 2), 1.0);            // every pair holds a correct sample
  EXPECT_DOUBLE_EQ(pass_at_k(8, 0, 4), 0.0);
  EXPECT_DOUBLE_EQ(pass_at_k(8, 8, 8), 1.0);
  EXPECT_NEAR(pass_at_k(7, 3, 1), 3.0 / 7.0, 1e-15);    // pass@1 is the mean
  EXPECT_NEAR(pass_at_k(1000, 1, 500), 0.5, 1e-12);     // stable for large n
}

TEST(PassAtK, MatchesCombinatorialDefinitionAndIsMonotone) {
  for (int n : {1, 2, 5, 16, 64, 200})
    for (int c = 0; c <= n; c += std::max(1, n / 7)) {
      double prev = -1;
      for (int k = 1; k <= n; ++k) {
        double v = pass_at_k(n, c, k);
        EXPECT_NEAR(v, pass_at_k_reference(n, c, k), 1e-9) << n << " " << c << " " << k;
        EXPECT_GE(v, prev - 1e-15);
        EXPECT_GE(v, 0.0);
        EXPECT_LE(v, 1.0);
        prev = v;
      }
    }
}

TEST(PassAtK, RejectsInvalidArguments) {
  EXPECT_THROW(pass_at_k(4, 1, 5), Error);
  EXPECT_THROW(pass_at_k(4, 1, 0), Error);
  EXPECT_THROW(pass_at_k(4, 5, 1), Error);
}

TEST(MajorityVote, PicksMostVotedAndBreaksTiesByEarliestAnswer) {
  // indices out of order on purpose: voting follows sample_index
  std::vector<SampleOutcome> s = {scored(3, false, "7"), scored(0, false, "7"), scored(1, true, "12"),
                                  scored(2, true, "12"), scored(4, false, "9")};
  auto k3 = majority_vote(s, 3);  // 7, 12, 12
  EXPECT_EQ(k3.answer, std::optional<std::string>("12"));
  EXPECT_TRUE(k3.correct);
  EXPECT_EQ(k3.votes, 2);
  EXPECT_FALSE(k3.tie);
  auto k5 = majority_vote(s, 5);  // 7,12,12,7,9: tie 7 vs 12, 7 appeared first
  EXPECT_EQ(k5.answer, std::optional<std::string>("7"));
  EXPECT_FALSE(k5.correct);
  EXPECT_TRUE(k5.tie);
  EXPECT_EQ(k5.voters, 5);
  auto k1 = majority_vote(s, 1);
  EXPECT_EQ(k1.answer, std::optional<std::string>("7"));
  EXPECT_EQ(k1.considered, 1);
}

TEST(MajorityVote, SkipsUnscoredAndNonVoters) {
  std::vector<SampleOutcome> s = {other(0, OutcomeKind::infra_error), scored(1, false, std::nullopt),
                                  scored(2, true, "5"), other(3, OutcomeKind::ungraded), scored(4, false, "6"),
                                  scored(5, false, "6")};
  auto v = majority_vote(s, 2);  // first two *scored*: #1 (no answer), #2 ("5")
  EXPECT_EQ(v.considered, 2);
  EXPECT_EQ(v.voters, 1);
  EXPECT_EQ(v.answer, std::optional<std::string>("5"));
  EXPECT_TRUE(v.correct);
  auto all = majority_vote(s, 10);
  EXPECT_EQ(all.answer, std::optional<std::string>("6"));
  EXPECT_EQ(all.considered, 4);
  auto none = majority_vote({scored(0, false, std::nullopt)}, 4);
  EXPECT_FALSE(none.answer.has_value());
  EXPECT_FALSE(none.correct);
  EXPECT_EQ(none.voters, 0);
}

TEST(TaskMetrics, AggregatesExcludingInfraErrors) {
  std::vector<ProblemSamples> problems = {
      // p1: 4 scored, 2 correct; votes 3,3,4,4 -> tie, "3" first (wrong)
      {"p1", {scored(0, false, "3"), scored(1, false, "3"), scored(2, true, "4"), scored(3, true, "4")}},
      // p2: 2 scored (both correct "8") + 2 infra errors
      {"p2", {scored(0, true, "8"), other(1, OutcomeKind::infra_error), scored(2, true, "8"),
              other(3, OutcomeKind::infra_error)}},
      // p3: all infra errors: left out of every denominator
      {"p3", {other(0, OutcomeKind::infra_error)}},
      // p4: 4 scored, 0 correct, one ungraded
      {"p4", {scored(0, false, "1"), scored(1, false, "2"), scored(2, false, "2"), scored(3, false, "1"),
              other(4, OutcomeKind::ungraded)}},
  };
  MetricsOptions o;
  auto m = compute_task_metrics(problems, o);
  EXPECT_EQ(m.problems, 3);
  EXPECT_EQ(m.problems_total, 4);
  EXPECT_EQ(m.samples, 14);
  EXPECT_EQ(m.scored, 10);
  EXPECT_EQ(m.infra_errors, 3);
  EXPECT_EQ(m.ungraded, 1);
  EXPECT_EQ(m.max_samples, 4);
  EXPECT_EQ(m.min_samples, 2);
  // pass@1 = mean(2/4, 2/2, 0/4)
  EXPECT_NEAR(m.pass1.mean, (0.5 + 1.0 + 0.0) / 3, 1e-12);
  ASSERT_EQ(m.pass_at.size(), 3u);  // k = 1, 2, 4
  EXPECT_EQ(m.pass_at[0].k, 1);
  EXPECT_NEAR(m.pass_at[0].value, m.pass1.mean, 1e-12);
  EXPECT_EQ(m.pass_at[1].k, 2);
  EXPECT_EQ(m.pass_at[1].problems, 3);
  // p1: 1 - C(2,2)/C(4,2) = 5/6; p2: 1; p4: 0
  EXPECT_NEAR(m.pass_at[1].value, (5.0 / 6 + 1.0 + 0.0) / 3, 1e-12);
  EXPECT_EQ(m.pass_at[2].k, 4);
  EXPECT_EQ(m.pass_at[2].problems, 2) << "p2 has only 2 scored samples: no unbiased pass@4";
  EXPECT_NEAR(m.pass_at[2].value, (1.0 + 0.0) / 2, 1e-12);
  ASSERT_TRUE(m.cons.has_value());
  EXPECT_EQ(m.cons->k, 4);
  EXPECT_NEAR(m.cons->value.mean, 1.0 / 3, 1e-12);  // only p2's vote ("8") is correct
  EXPECT_EQ(m.cons->ties, 2);                       // p1 (3 vs 4) and p4 (1 vs 2)
  EXPECT_EQ(m.per_problem.size(), 3u);
  EXPECT_NEAR(m.per_problem.at("p1"), 0.5, 1e-12);
  EXPECT_FALSE(m.per_problem.count("p3"));

  MetricsOptions single;
  single.cons_k = 1;
  EXPECT_FALSE(compute_task_metrics(problems, single).cons.has_value()) << "cons@k only for k >= 2";
}

TEST(TaskMetrics, PassAtKHasBootstrapIntervalsAndVotingCanBeOff) {
  // 40 problems with 8 samples; problem i solves (i % 9) of them.
  std::vector<ProblemSamples> problems;
  std::vector<double> pass2;
  for (int i = 0; i < 40; ++i) {
    ProblemSamples p{"p" + std::to_string(i), {}};
    int c = i % 9;
    for (int j = 0; j < 8; ++j) p.samples.push_back(scored(j, j < c, j < c ? "1" : "0"));
    pass2.push_back(pass_at_k(8, std::min(c, 8), 2));
    problems.push_back(std::move(p));
  }
  MetricsOptions o;
  auto m = compute_task_metrics(problems, o);
  ASSERT_EQ(m.pass_at.size(), 4u);  // 1, 2, 4, 8
  // k = 1 is pass@1, interval included.
  EXPECT_DOUBLE_EQ(m.pass_at[0].value, m.pass1.mean);
  EXPECT_DOUBLE_EQ(m.pass_at[0].ci_lo, m.pass1.ci_lo);
  EXPECT_DOUBLE_EQ(m.pass_at[0].ci_hi, m.pass1.ci_hi);
  // k = 2: the same estimate as estimate_mean over the per-problem pass@2 values.
  auto e2 = estimate_mean(pass2, o.bootstrap);
  EXPECT_NEAR(m.pass_at[1].value, e2.mean, 1e-12);
  EXPECT_NEAR(m.pass_at[1].se, e2.se, 1e-12);
  EXPECT_DOUBLE_EQ(m.pass_at[1].ci_lo, e2.ci_lo);
  EXPECT_DOUBLE_EQ(m.pass_at[1].ci_hi, e2.ci_hi);
  for (const auto& p : m.pass_at) {
    EXPECT_LT(p.ci_lo, p.value) << p.k;
    EXPECT_GT(p.ci_hi, p.value) << p.k;
    EXPECT_GT(p.se, 0.0) << p.k;
  }
  ASSERT_TRUE(m.cons.has_value());
  MetricsOptions no_vote;
  no_vote.vote = false;  // code tasks: the "answer" is program text, votes are not defined
  auto nv = compute_task_metrics(problems, no_vote);
  EXPECT_FALSE(nv.cons.has_value());
  EXPECT_DOUBLE_EQ(nv.pass1.mean, m.pass1.mean);
}

TEST(Estimate, StandardErrorAndDeterministicBootstrap) {
  std::vector<double> v;
  for (int i = 0; i < 30; ++i) v.push_back((i * i % 17) / 17.0);
  auto e = estimate_mean(v);
  double mean = 0;
  for (double x : v) mean += x / 30;
  double ss = 0;
  for (double x : v) ss += (x - mean) * (x - mean);
  EXPECT_NEAR(e.mean, mean, 1e-12);
  EXPECT_NEAR(e.se, std::sqrt(ss / 29) / std::sqrt(30.0), 1e-12);
  EXPECT_LT(e.ci_lo, e.mean);
  EXPECT_GT(e.ci_hi, e.mean);
  auto again = estimate_mean(v);
  EXPECT_EQ(e.ci_lo, again.ci_lo);
  EXPECT_EQ(e.ci_hi, again.ci_hi);
  BootstrapOptions other;
  other.seed = 7;
  auto e7 = estimate_mean(v, other);
  EXPECT_TRUE(e7.ci_lo != e.ci_lo || e7.ci_hi != e.ci_hi);
  auto one = estimate_mean({0.5});
  EXPECT_TRUE(std::isnan(one.se));
  EXPECT_EQ(one.ci_lo, 0.5);
  EXPECT_THROW(estimate_mean({}), Error);
}

// Problems drawn from a population (p ~ U(0,1)^2, so E[p] = 1/3), n samples each; the 95% bootstrap interval of
// pass@1 over problems should contain 1/3 about 95% of the time.
TEST(Estimate, BootstrapIntervalCoverageBySimulation) {
  std::mt19937_64 rng(12345);
  std::uniform_real_distribution<double> unif(0.0, 1.0);
  constexpr int kDatasets = 400, kProblems = 80, kSamples = 4;
  const double truth = 1.0 / 3.0;
  int covered = 0;
  BootstrapOptions o;
  o.resamples = 500;
  for (int d = 0; d < kDatasets; ++d) {
    std::vector<double> values;
    for (int i = 0; i < kProblems; ++i) {
      double u = unif(rng), p = u * u;
      int c = 0;
      for (int j = 0; j < kSamples; ++j) c += unif(rng) < p;
      values.push_back(static_cast<double>(c) / kSamples);
    }
    o.seed = static_cast<std::uint64_t>(d);
    auto e = estimate_mean(values, o);
    covered += (e.ci_lo <= truth && truth <= e.ci_hi);
  }
  double coverage = static_cast<double>(covered) / kDatasets;
  EXPECT_GT(coverage, 0.91) << coverage;
  EXPECT_LT(coverage, 0.985) << coverage;
}

TEST(Paired, IdenticalRunsAndExactSmallCase) {
  std::vector<double> a = {0.5, 1.0, 0.0, 0.25};
  auto same = paired_compare(a, a);
  EXPECT_EQ(same.diff, 0.0);
  EXPECT_DOUBLE_EQ(same.p_value, 1.0);
  EXPECT_TRUE(same.exact);
  // d = (1, 1, 1): only the two all-same-sign patterns of 8 reach |sum| = 3.
  auto r = paired_compare({1, 1, 1}, {0, 0, 0});
  EXPECT_TRUE(r.exact);
  EXPECT_DOUBLE_EQ(r.p_value, 0.25);
  EXPECT_DOUBLE_EQ(r.diff, 1.0);
  EXPECT_DOUBLE_EQ(r.mean_a, 1.0);
  // d = (1, -1, 2): sums over sign patterns: ±1±1±2 -> |s| in {0,2,2,4,4,2,2,0}; observed 2 -> 6/8.
  auto r2 = paired_compare({1, 0, 2}, {0, 1, 0});
  EXPECT_DOUBLE_EQ(r2.p_value, 0.75);
  EXPECT_THROW(paired_compare({1}, {1, 2}), Error);
  EXPECT_THROW(paired_compare({}, {}), Error);
}

TEST(Paired, DetectsRealDifferenceAndHoldsSizeUnderNull) {
  std::mt19937_64 rng(777);
  std::uniform_real_distribution<double> unif(0.0, 1.0);
  auto draw = [&](double p, int n) {
    int c = 0;
    for (int j = 0; j < n; ++j) c += unif(rng) < p;
    return static_cast<double>(c) / n;
  };
  PairedOptions o;
  o.permutations = 2000;
  o.bootstrap.resamples = 200;
  // A is 20 points better on every problem.
  std::vector<double> a, b;
  for (int i = 0; i < 100; ++i) {
    double p = 0.2 + 0.5 * unif(rng);
    a.push_back(draw(p + 0.2, 8));
    b.push_back(draw(p, 8));
  }
  auto r = paired_compare(a, b, o);
  EXPECT_FALSE(r.exact);
  EXPECT_LT(r.p_value, 0.01);
  EXPECT_GT(r.ci_lo, 0.0);
  EXPECT_NEAR(r.diff, r.mean_a - r.mean_b, 1e-12);
  // Under the null (same p per problem), p < 0.05 should happen about 5% of the time.
  int rejections = 0;
  constexpr int kTrials = 200;
  for (int t = 0; t < kTrials; ++t) {
    std::vector<double> x, y;
    for (int i = 0; i < 40; ++i) {
      double p = unif(rng);
      x.push_back(draw(p, 4));
      y.push_back(draw(p, 4));
    }
    o.bootstrap.seed = static_cast<std::uint64_t>(t);
    rejections += paired_compare(x, y, o).p_value < 0.05;
  }
  double rate = static_cast<double>(rejections) / kTrials;
  EXPECT_LT(rate, 0.10) << rate;
  EXPECT_GT(rate, 0.01) << rate;
}
