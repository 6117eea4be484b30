// Reports over a SampleStore: per-run task summaries (printed by `reval eval` after a run), the leaderboard of
// runs x tasks exported as Markdown, CSV, JSON or self-contained HTML (results/report_html.hpp), breakdowns by
// problem metadata (subject, level, ...), completion length and truncation per task, the `reval runs` table and
// paired run comparisons (`reval compare`, as text, Markdown, CSV or JSON). Stored Codeforces ratings
// (results/codeforces_rating.hpp) appear beside the codeforces task in every format and in comparisons.
//
// Everything is computed from SampleStore::sample_summaries (samples joined with their newest grade; completion
// text is never read), turned into metrics by results/metrics.hpp: a failed generation or an infra_error grade is
// an infra error, a sample without a grade is ungraded; both are left out of the denominators and reported.
// Percentages in text formats are value*100 with one decimal; CSV and JSON carry the raw fractions.
#pragma once
#include <cstdint>
#include <optional>
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
  bool voting = true;                    // cons@k is defined: every grade came from a math or choice grader
  int generated = 0;                     // samples whose generation succeeded (no error)
  int truncated = 0;                     // samples that stopped at the length limit (finish_reason "length")
  double truncated_share = 0.0;          // truncated / generated; NaN when nothing was generated
  double mean_completion_tokens = 0.0;   // over samples with a known count; NaN when none
  double median_completion_tokens = 0.0; // over samples with a known count; NaN when none
  double mean_latency_s = 0.0;           // over samples whose generation succeeded; NaN when none
};

// Breakdowns: a task's problems grouped by a metadata field the loaders store (subject, level, domain, difficulty,
// platform, category, ...) or a derived one (rating_band: a Codeforces problem rating in 400-point bands, "2800+"
// at the top). An array-valued field (tags) puts a problem in every group it names; a problem without the field is
// in the group "(none)". A task none of whose problems has the field gets no breakdown by it.
inline constexpr const char* kAutoBreakdown = "auto";
// The keys "auto" tries, in order; a task is broken down by those its problems carry with at least two values.
const std::vector<std::string>& auto_breakdown_keys();
// The groups a problem with `metadata` belongs to under `key`; empty when the field is absent.
std::vector<std::string> breakdown_groups(const std::string& key, const nlohmann::json& metadata);

struct BreakdownRow {
  std::int64_t run_id = 0;
  std::string run_name, task, key, group;
  TaskMetrics metrics;   // over the group's problems: pass@1 with SE and CI, counts (no pass@k, no cons@k)
};

// One run's samples of one problem, compactly: the HTML report's per-problem view. Samples in index order.
struct ProblemDigest {
  std::int64_t run_id = 0;
  std::string task, problem_id;
  std::string codes;                 // one character per sample (sample_code)
  std::vector<int> indexes;          // sample_index of each sample
  std::vector<std::int64_t> tokens;  // completion tokens of each sample (-1 unknown)
  std::vector<std::string> answers;  // distinct extracted answers (voting tasks only; cut to 100 characters)
  std::vector<int> answer_of;        // per sample: index into answers, -1 without one
  int scored = 0, correct = 0;
};
// One character per sample status: C correct, W wrong, N no_answer, E compile_error, R runtime_error, T time_limit,
// M memory_limit, O output_limit, I infra_error (a grade or a failed generation), U ungraded; lower case when the
// generation stopped at the length limit.
char sample_code(const SampleSummary& s);

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
  std::vector<std::string> by;    // breakdown keys (metadata fields, rating_band, or "auto"); empty: none
  bool digests = false;           // keep per-problem digests (the HTML report's per-problem view)
};

struct Leaderboard {
  std::vector<RunInfo> runs;        // in report order
  std::vector<std::string> tasks;   // sorted union of the runs' tasks
  std::vector<TaskSummary> rows;    // one per (run, task) that has samples; run order, then task
  std::vector<RatingRecord> ratings;  // stored ratings shown per run (report_ratings()): run order, task, method
  std::vector<std::string> by;      // the breakdown keys asked for (ReportOptions::by)
  std::vector<BreakdownRow> breakdowns;  // task, key (in `by` order), group (natural order), then run order
  std::vector<ProblemDigest> digests;    // with ReportOptions::digests: run order, task, problem
  MetricsOptions metrics;           // the options the numbers were computed with
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
// The paired comparison of two summaries of one task (pass@1 per problem scored in both); nullopt when they have no
// scored problem in common.
std::optional<TaskComparison> compare_summaries(const TaskSummary& a, const TaskSummary& b,
                                                const PairedOptions& options = {});
// The comparison as a terminal table (text) or as Markdown, CSV or JSON (`reval compare --format`).
std::string format_comparison(const RunComparison& cmp);
std::string render_comparison(const RunComparison& cmp, ReportFormat format);

}  // namespace reval
