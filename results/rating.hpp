// Codeforces-style Elo ratings: the math, free of files and stores (docs/ratings.md explains every choice).
//
// Two ways to put a model on the Codeforces rating scale:
// - From contest standings (CodeElo's method): the model's result in one contest (score, or solved count and
//   penalty) is placed among the rated participants of that contest; its contest rating is the r at which its
//   expected place, 1 + sum_i P(participant i beats r), equals the place it took. P is Codeforces' Elo
//   probability 1 / (1 + 10^((r - old_i) / 400)) with old_i the participant's rating before the contest. The model's
//   rating is the mean of its contest ratings (results/codeforces_rating.hpp does the averaging).
// - From problem ratings alone: every attempted problem is an opponent whose rating is the problem's Codeforces
//   difficulty; solving it is a win. The rating is the maximum-likelihood r under the same logistic model, with a
//   profile-likelihood confidence interval. Codeforces defines a problem's rating as the rating at which a
//   contestant solves it with probability 1/2, so this is the same scale.
// A percentile turns a rating into "the share of a population of Codeforces users rated below it"; the population
// (which users the distribution holds) must be shown next to the number.
//
// Thread-safety: everything here is a pure function or an immutable value.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace reval {

// Probability that a player rated `r` beats one rated `opponent`: 1 / (1 + 10^((opponent - r) / 400)).
double elo_win_probability(double r, double opponent);

// ---- one contest's standings ----

enum class ContestScoring {
  points,  // Codeforces rounds ("CF"): each problem is worth points; a failed attempt costs 50
  icpc,    // ICPC-style (Educational, Div. 3/4): solved count, then penalty (10 per failed attempt)
};
const char* to_string(ContestScoring s);

struct ContestProblem {
  std::string id;        // contestId + index, e.g. "2051D": the problem id of reval's codeforces task
  double points = 0.0;   // full score (points scoring only)
};

// A rated participant: present in both the official standings and the contest's rating changes.
struct FieldEntry {
  std::string handle;
  double points = 0.0;   // standings points (score, or solved count in ICPC style)
  double penalty = 0.0;  // standings penalty (ICPC minutes; 0 in points-scored rounds)
  int old_rating = 0;    // rating before the contest
};

struct ContestStandings {
  std::int64_t id = 0;
  std::string name;
  ContestScoring scoring = ContestScoring::points;
  std::vector<ContestProblem> problems;   // in contest order
  std::vector<FieldEntry> field;          // rated participants, in standings order
  std::int64_t standings_rows = 0;        // official standings rows before the intersection
  std::int64_t rating_changes = 0;        // rating-change entries before the intersection
  std::string source;                     // where it was read from (for messages)
};

// The model's attempts at one problem: which of its first `attempts` scored samples passed first.
struct ProblemAttempts {
  int attempts = 0;      // scored samples considered (at most the allowed attempts)
  int first_pass = -1;   // 0-based index among them of the first correct one; -1: not solved
  bool solved() const { return first_pass >= 0; }
};

struct StandingsOptions {
  int min_field = 200;               // contests with this many rated participants or fewer are skipped
  double bound_margin = 100.0;       // the search runs on [min old rating - margin, max old rating + margin]
  bool missing_as_unsolved = false;  // a contest problem the run never attempted: skip the contest (default) or
                                     // count it unsolved
};

struct ProblemScore {
  std::string id;
  int attempts = 0;
  int first_pass = -1;
  double points = 0.0;   // what it earned: max(0, full - 50 * failed) or 1 (ICPC); 0 when unsolved
  bool missing = false;  // the run has no scored sample of it
};

struct ContestPerformance {
  std::int64_t contest_id = 0;
  std::string name;
  ContestScoring scoring = ContestScoring::points;
  double score = 0.0;      // points, or solved count (ICPC)
  double penalty = 0.0;    // ICPC: 10 per failed attempt before each solve (solve time taken as 0)
  int solved = 0;
  int field = 0;           // rated participants it was placed among
  int better = 0;          // participants strictly ahead of the model
  int tied = 0;            // participants with the same points and penalty
  double place = 0.0;      // 1 + better + tied / 2
  double rating = 0.0;     // r with expected_place(r) == place, within the bounds
  double lower_bound = 0.0, upper_bound = 0.0;
  int clamped = 0;         // +1: the place is better than expected even at the upper bound; -1: lower bound
  std::vector<ProblemScore> problems;
};

// 1 + sum over the field of P(old_i beats r): the place a player rated r is expected to take.
double expected_place(double r, const std::vector<double>& old_ratings);

struct PlaceSolution {
  double rating = 0.0;
  int clamped = 0;   // +1 / -1 when the place lies outside what [lo, hi] can reach (rating is then hi / lo)
};
// The r in [lo, hi] with expected_place(r) == place, by bisection (expected_place decreases in r), to 1e-6.
PlaceSolution rating_for_place(double place, const std::vector<double>& old_ratings, double lo, double hi);

// Scores the model's attempts in the contest, places the result among the field and solves for its rating.
// `outcomes` maps problem id -> attempts (problems absent from it were not attempted). Throws reval::Error when the
// contest cannot be rated: field too small, a problem never attempted (unless missing_as_unsolved), no field.
ContestPerformance rate_contest(const ContestStandings& contest, const std::map<std::string, ProblemAttempts>& outcomes,
                                const StandingsOptions& options = {});

// ---- rating from problem difficulty ratings (maximum likelihood) ----

struct RatedProblem {
  std::string id;
  double rating = 0.0;  // the problem's Codeforces difficulty
  bool solved = false;
};

enum class Censoring {
  none,
  all_solved,   // the likelihood grows without bound: only a lower limit exists
  none_solved,  // only an upper limit exists
};
const char* to_string(Censoring c);

struct ProblemRatingOptions {
  double confidence = 0.95;   // two-sided level of the profile-likelihood interval
  double search_margin = 4000.0;  // the MLE and interval ends are sought on [min - margin, max + margin]
};

struct MleRating {
  int problems = 0;
  int solved = 0;
  Censoring censored = Censoring::none;
  double rating = 0.0;          // the MLE; when censored, the finite end of the interval (a bound, not a point)
  double se = 0.0;              // 1 / sqrt(observed information) at the MLE; NaN when censored
  double ci_lo = 0.0, ci_hi = 0.0;  // {r : 2 (l(mle) - l(r)) <= chi2_1(confidence)}; -inf / +inf when open
  double log_likelihood = 0.0;  // at the MLE (the supremum when censored)
};

// Log-likelihood of the observed solves for a model rated r (natural log).
double problem_log_likelihood(double r, const std::vector<RatedProblem>& problems);
// MLE: the r at which the expected number of solves, sum_j P(r beats d_j), equals the observed number (the
// likelihood is concave, so this root is its maximum). Throws reval::Error when `problems` is empty.
MleRating rating_from_problems(const std::vector<RatedProblem>& problems, const ProblemRatingOptions& options = {});

// The standard normal quantile: x with Phi(x) = p, 0 < p < 1.
double normal_quantile(double p);

// ---- percentile among Codeforces users ----

// 717421 -> "717,421".
std::string thousands(std::int64_t n);

// A distribution of user ratings. Files: {"users": N, "histogram": [[rating, count], ...], "population": "..."}
// (histogram sorted by rating; "population" optional) or a plain JSON array of ratings (CodeElo's
// sorted_ratings.json).
class RatingDistribution {
 public:
  RatingDistribution() = default;
  // Rating -> number of users (any order; equal ratings are merged). Throws reval::Error on negative counts or an
  // empty total.
  RatingDistribution(std::vector<std::pair<double, std::int64_t>> histogram, std::string population);
  // Reads a file in either format; errors name the file and the field. `population` overrides the file's label;
  // without either, the label is "all N rated Codeforces accounts in <file name>".
  static RatingDistribution load(const std::string& path, const std::string& population = {});

  // Share of users rated strictly below `rating`, in percent (CodeElo's convention: bisect_left / N).
  double percentile(double rating) const;
  std::int64_t users() const { return total_; }
  const std::string& population() const { return population_; }
  double min_rating() const { return values_.empty() ? 0.0 : values_.front(); }
  double max_rating() const { return values_.empty() ? 0.0 : values_.back(); }

 private:
  std::vector<double> values_;         // distinct ratings, ascending
  std::vector<std::int64_t> below_;    // below_[i]: users rated below values_[i]
  std::int64_t total_ = 0;
  std::string population_;
};

}  // namespace reval
