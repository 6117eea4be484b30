// Metrics over graded samples: pass@1, unbiased pass@k, cons@k (majority vote), standard errors, bootstrap
// confidence intervals over problems and paired comparisons of two runs.
//
// Definitions (all per task; a problem's samples are ordered by sample_index):
// - A sample is *scored* when it has a grade whose verdict is not infra_error and the generation did not fail.
//   Samples whose generation failed or whose grade is infra_error are *infra errors*; samples with no grade yet
//   are *ungraded*. Both are left out of every denominator and counted separately.
// - pass@1 of a problem is c/n (n scored samples, c graded `correct`), i.e. the mean over its samples; the task's
//   pass@1 is the mean over problems with n >= 1.
// - pass@k of a problem is the unbiased estimator 1 - C(n-c, k)/C(n, k) (Chen et al. 2021), computed in the
//   numerically stable product form 1 - prod_{i=n-c+1..n} (1 - k/i). The task's pass@k is the mean over the
//   problems with n >= k (others cannot be estimated without bias and are left out; `problems` says how many),
//   with its standard error and percentile bootstrap interval over those problems (as for pass@1; the k = 1 row
//   equals pass@1 exactly, interval included).
// - cons@k of a problem: majority vote over the canonical extracted answers of its first k scored samples
//   (samples with no extracted answer do not vote). Tie rule: among answers with the most votes, the one whose
//   first occurrence has the lowest sample index wins; problems where a tie happened are counted in `ties`. The
//   voted answer counts correct when the earliest sample carrying it was graded correct (samples sharing a
//   canonical answer share a verdict for deterministic graders). No votes at all counts as wrong. Voting needs
//   canonical answers: it is defined for math and choice grading, not for code (whose "answer" is program text),
//   so callers turn it off there (MetricsOptions::vote).
// - Standard error: sample standard deviation of the per-problem values / sqrt(problems). Confidence interval:
//   percentile bootstrap over problems (resampling problems with replacement), seeded and deterministic
//   (std::mt19937_64, whose output sequence the C++ standard fixes).
// - Paired comparison of runs A and B on the problems both scored: d_i = a_i - b_i; mean difference, its standard
//   error, a paired bootstrap CI (resampling problems, keeping pairs together) and a two-sided p-value from a
//   paired sign-flip permutation test (under H0 each d_i is symmetric around 0, so its sign is exchangeable):
//   exact enumeration of all 2^m sign patterns when m <= exact_max_problems, otherwise Monte Carlo with
//   `permutations` random sign patterns and p = (1 + #{|mean*| >= |mean|}) / (1 + permutations).
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace reval {

// ---- single-problem estimators ----

// Unbiased pass@k for n samples of which c are correct. Throws reval::Error unless 0 <= c <= n and 1 <= k <= n.
double pass_at_k(int n, int c, int k);

enum class OutcomeKind { scored, infra_error, ungraded };

struct SampleOutcome {
  int sample_index = 0;
  OutcomeKind kind = OutcomeKind::scored;
  bool correct = false;                 // verdict == correct (scored samples only)
  std::optional<std::string> answer;    // canonical extracted answer, if any
};

struct ConsensusResult {
  bool correct = false;
  std::optional<std::string> answer;    // the voted answer; empty when no sample voted
  int votes = 0;                        // votes for the winning answer
  int voters = 0;                       // samples among the first k scored ones that had an answer
  int considered = 0;                   // scored samples looked at (min(k, scored))
  bool tie = false;                     // several answers had the most votes (resolved by earliest occurrence)
};

// Majority vote over the first k scored samples of `samples` (any order; sorted by sample_index internally).
ConsensusResult majority_vote(std::vector<SampleOutcome> samples, int k);

// ---- estimates over problems ----

struct BootstrapOptions {
  int resamples = 2000;            // bootstrap resamples
  std::uint64_t seed = 20250101;   // RNG seed: same data + seed -> same interval
  double confidence = 0.95;        // two-sided coverage of the interval
};

struct Estimate {
  double mean = 0.0;
  double se = 0.0;       // standard error of the mean; NaN with fewer than 2 problems
  double ci_lo = 0.0;    // bootstrap percentile interval; equal to mean with fewer than 2 problems
  double ci_hi = 0.0;
  int n = 0;             // problems
};

// Mean, standard error and percentile bootstrap CI of per-problem values. Throws reval::Error when empty.
Estimate estimate_mean(const std::vector<double>& values, const BootstrapOptions& options = {});

struct ProblemSamples {
  std::string problem_id;
  std::vector<SampleOutcome> samples;
};

struct MetricsOptions {
  std::vector<int> ks;         // pass@k values; empty: powers of two up to the most scored samples of a problem
  int cons_k = 0;              // cons@k; 0: the most scored samples of a problem. Reported only when >= 2
  bool vote = true;            // cons@k is defined (canonical answers: math, choice); false: never computed
  BootstrapOptions bootstrap;
};

struct PassAtK {
  int k = 1;
  double value = 0.0;   // mean over problems with >= k scored samples
  int problems = 0;     // how many problems that is
  double se = 0.0;      // standard error over those problems; NaN with fewer than 2
  double ci_lo = 0.0;   // percentile bootstrap interval over those problems; equal to value with fewer than 2
  double ci_hi = 0.0;
};

struct ConsensusStats {
  int k = 0;
  Estimate value;       // mean over problems with >= 1 scored sample
  int ties = 0;         // problems whose vote was tied (resolved by earliest first occurrence)
  int no_votes = 0;     // problems where none of the first k scored samples had an extracted answer
};

struct TaskMetrics {
  int problems = 0;          // problems with at least one scored sample
  int problems_total = 0;    // problems with any sample
  int samples = 0;           // all samples
  int scored = 0;
  int infra_errors = 0;
  int ungraded = 0;
  int max_samples = 0;       // most scored samples of one problem (the "n" of pass@k)
  int min_samples = 0;       // fewest scored samples among scored problems
  Estimate pass1;
  std::vector<PassAtK> pass_at;               // ascending k
  std::optional<ConsensusStats> cons;         // when cons_k >= 2 and voting is defined (MetricsOptions::vote)
  std::map<std::string, double> per_problem;  // problem_id -> pass@1 (scored problems), for paired comparisons
};

TaskMetrics compute_task_metrics(const std::vector<ProblemSamples>& problems, const MetricsOptions& options = {});

// ---- paired comparison ----

struct PairedOptions {
  BootstrapOptions bootstrap;
  int permutations = 10000;      // Monte Carlo sign flips when there are too many problems to enumerate
  int exact_max_problems = 16;   // enumerate all 2^m sign patterns up to this many problems
};

struct PairedComparison {
  int problems = 0;
  double mean_a = 0.0, mean_b = 0.0;
  double diff = 0.0;     // mean_a - mean_b
  double se = 0.0;       // standard error of the mean difference (NaN with < 2 problems)
  double ci_lo = 0.0, ci_hi = 0.0;  // paired bootstrap percentile CI of the difference
  double p_value = 1.0;  // two-sided paired sign-flip permutation test
  bool exact = false;    // p_value from full enumeration (else Monte Carlo)
  int permutations = 0;  // random sign patterns drawn (Monte Carlo only); p_value >= 1/(permutations+1)
};

// a[i] and b[i] are the two runs' values on the same problem i. Throws reval::Error on size mismatch or empty input.
PairedComparison paired_compare(const std::vector<double>& a, const std::vector<double>& b,
                                const PairedOptions& options = {});

}  // namespace reval
