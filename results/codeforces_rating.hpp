// Ratings of stored runs: turns a run's graded codeforces samples into RatingRecords (results/records.hpp), stores
// them, and prints the per-contest / per-problem breakdown (`reval rating`).
//
// How the pieces fit: the run's problems (metadata contest_id, rating) and sample summaries (newest grade per
// sample) come from the SampleStore; each problem's attempts are its first `attempts` scored samples in
// sample_index order (infra errors and ungraded samples are not attempts). The "standings" method reads the cached
// Codeforces API replies (results/codeforces_standings.hpp) from the data dir and rates each contest
// (results/rating.hpp); the run's rating is the mean over the rated contests with a bootstrap interval over
// contests. The "problems" method needs nothing but the problems' difficulty ratings. The percentile comes from a
// user-rating distribution, by default <data dir>/codeforces/ratings/user_rating_histogram.json.
//
// refresh_ratings() is the hook the harness calls after grading (`reval eval`, `reval regrade`): it recomputes
// every rating already stored for the run with its own parameters, plus the default ones, and never throws.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "results/metrics.hpp"
#include "results/records.hpp"
#include "results/store.hpp"

namespace reval {

struct RatingOptions {
  std::string task = "codeforces";
  int attempts = 8;                     // a problem is solved if one of its first `attempts` scored samples passes
  std::vector<std::int64_t> contests;   // standings: only these contests; empty: every contest of the run's problems
  int min_field = 200;                  // standings: contests with this many rated participants or fewer are skipped
  bool missing_as_unsolved = false;     // standings: a contest problem the run lacks counts unsolved (default: skip
                                        // the contest)
  double confidence = 0.95;             // two-sided level of the intervals (bootstrap / profile likelihood)
  int bootstrap = 2000;                 // standings: bootstrap resamples over contests
  std::uint64_t seed = BootstrapOptions{}.seed;  // standings: bootstrap seed (deterministic)
  std::string data_dir;                 // empty: the data dir recorded in the run's config
  std::string distribution;             // empty: <data dir>/codeforces/ratings/user_rating_histogram.json
  std::string population;               // label of the distribution's users; empty: the file's or a default
};

// The key part of a rating: what was asked for (attempts, contests, ...), as stored in RatingRecord::params.
nlohmann::json rating_params(const std::string& method, const RatingOptions& options);
// Options that reproduce a stored rating: `base` with the params (and the data dir / distribution the record used).
RatingOptions rating_options_for(const RatingRecord& record, RatingOptions base = {});

// "standings" when standings of at least one of the run's contests are cached in the data dir, else "problems".
std::string default_rating_method(SampleStore& store, const RunInfo& run, const RatingOptions& options = {});

// Computes one rating of the run (method "standings" or "problems"). Contests or problems that cannot be used are
// listed in details.skipped with the reason (a malformed standings file names the file and field) and the rest
// are rated. Throws reval::Error for an unknown method or a run without problems of the task.
RatingRecord compute_rating(SampleStore& store, const RunInfo& run, const std::string& method,
                            const RatingOptions& options = {});

// The harness hook: after grading, recompute the run's stored ratings (each with its own parameters) and the
// default ones (problems method; standings too when any of its contests is cached). Does nothing for runs without
// problems of the codeforces task. Never throws: problems become the returned notes (also printed to stderr as
// "reval: ..." lines when print_notes).
std::vector<std::string> refresh_ratings(SampleStore& store, std::int64_t run_id, bool print_notes = true) noexcept;

// "1650 ± 45", "≥ 2410" (censored), "-" (no rating).
std::string format_rating_value(const RatingRecord& r);
// "98.1 % of all 717,421 rated Codeforces accounts in user_rating_histogram.json" or "-".
std::string format_percentile(const RatingRecord& r);
// What `reval rating` prints: the method and parameters, the per-contest or per-problem table, skipped items with
// reasons, the rating with its interval and the percentile with its population.
std::string format_rating_breakdown(const RunInfo& run, const RatingRecord& r);

// For reports: per method, the rating shown for a run (the one with default parameters when stored, else the most
// recently computed). Ordered by method.
std::vector<RatingRecord> report_ratings(const std::vector<RatingRecord>& stored);

}  // namespace reval
