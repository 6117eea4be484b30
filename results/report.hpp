// Reports over a SampleStore: per-run task summaries (printed by `reval eval` after a run), the leaderboard of
// runs x tasks exported as Markdown, CSV, JSON or self-contained HTML (with pass@k curves drawn as inline SVG),
// the `reval runs` table and paired run comparisons (`reval compare`). Stored Codeforces ratings
// (results/codeforces_rating.hpp) appear beside the codeforces task in every format and in comparisons.
//
// Everything is computed from SampleStore::sample_summaries (samples joined with their newest grade; completion
// text is never read), turned into metrics by results/metrics.hpp: a failed generation or an infra_error grade is
// an infra error, a sample without a grade is ungraded; both are left out of the denominators and reported.
// Percentages in text formats are value*100 with one decimal; CSV and JSON carry the raw fractions.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "results/metrics.hpp"
#include "results/records.hpp"
#include "results/store.hpp"

namespace reval {

enum class ReportFormat { md, csv, json, html };
// "md" | "markdown" | "csv" | "json" | "html"; throws reval::Error listing the formats otherwise.
ReportFormat report_format_from_string(std::string_view s);

struct TaskSummary {
  std::int64_t run_id = 0;
  std::string run_name;
  std::string task;
  TaskMetrics metrics;
  int truncated = 0;                     // samples that stopped at the length limit (finish_reason "length")
  double mean_completion_tokens = 0.0;   // over samples with a known count; NaN when none
  double mean_latency_s = 0.0;           // over samples whose generation succeeded; NaN when none
};

// Looks a run up by name, else (if all digits) by id. Throws reval::Error listing the known runs when not found.
RunInfo resolve_run(SampleStore& store, const std::string& name_or_id);

// One summary per task of the run, ordered by task name.
std::vector<TaskSummary> summarize_run(SampleStore& store, std::int64_t run_id, const MetricsOptions& options = {});
// Plain-text table of the summaries for the terminal (what `reval eval` prints after a run).
std::string format_run_summary(const std::vector<TaskSummary>& summaries);
// summarize_run + format_run_summary, with a "run N (name)" heading: one call for `reval eval`.
std::string format_run_summary(SampleStore& store, std::int64_t run_id, const MetricsOptions& options = {});

struct ReportOptions {
  std::vector<std::string> runs;  // names or ids; empty: every run in the store, oldest first
  std::string task;               // only this task; empty: all tasks
  MetricsOptions metrics;         // k values, cons@k, bootstrap (resamples, seed, confidence)
};

struct Leaderboard {
  std::vector<RunInfo> runs;        // in report order
  std::vector<std::string> tasks;   // sorted union of the runs' tasks
  std::vector<TaskSummary> rows;    // one per (run, task) that has samples; run order, then task
  std::vector<RatingRecord> ratings;  // stored ratings shown per run (report_ratings()): run order, task, method
  double confidence = 0.95;
};

Leaderboard build_leaderboard(SampleStore& store, const ReportOptions& options);
std::string render_leaderboard(const Leaderboard& board, ReportFormat format);

// The `reval runs` table: id, name, model, backend, tasks, samples, created.
std::string format_runs_table(SampleStore& store);

struct TaskComparison {
  std::string task;
  PairedComparison result;  // over problems scored in both runs
  int only_a = 0;           // problems scored only in run A (left out)
  int only_b = 0;
};

// Ratings of the two runs by the same method. Standings ratings are compared paired over the contests both runs
// were rated on (paired_compare of the contest ratings); problem-rating MLEs as independent estimates
// (difference ± sqrt(se_a² + se_b²), normal interval and two-sided p-value).
struct RatingComparison {
  std::string task, method;
  RatingRecord a, b;
  bool same_params = true;  // both were computed with the same attempts / contests / ...
  double diff = 0.0;        // a.rating - b.rating (NaN when either has no rating)
  double se = 0.0, ci_lo = 0.0, ci_hi = 0.0, p_value = 0.0;  // NaN when not computable
  int common_contests = 0;  // standings: contests rated for both runs (the paired basis)
  double paired_diff = 0.0; // standings: mean difference over the common contests
};

struct RunComparison {
  RunInfo a, b;
  std::vector<TaskComparison> tasks;   // tasks both runs scored, sorted; "all tasks" pooling is not done
  std::vector<std::string> skipped;    // tasks present in only one run, or with no common scored problem
  std::vector<RatingComparison> ratings;  // methods rated for both runs (report_ratings() of each)
  double confidence = 0.95;
};

// Paired comparison of pass@1 per problem for every common task (or only `task`).
RunComparison compare_runs(SampleStore& store, const std::string& run_a, const std::string& run_b,
                           const std::string& task = "", const PairedOptions& options = {});
std::string format_comparison(const RunComparison& cmp);

}  // namespace reval
