// The data model stored for every evaluation: a run (with full provenance), its problems, one sample per
// generated completion, grades (one per sample; re-grading replaces it) and ratings
// (Codeforces-style Elo ratings derived from the grades; recomputed, never accumulated).
#pragma once
#include <cstdint>
#include <string>
#include <tuple>

#include <nlohmann/json.hpp>

#include "base/verdict.hpp"

namespace reval {

struct RunInfo {
  std::int64_t id = 0;          // assigned by the store
  std::string name;             // unique label of the run (default: model basename + backend)
  std::string model;            // path, hub id or served model name
  std::string model_hash;       // content hash of the checkpoint (sha256 of config + weight headers) or ""
  std::string backend;          // native | openai | replay
  std::string engine_version;   // backend-reported version string
  std::string device;           // e.g. "cpu (2 threads)", "NVIDIA H100"
  std::string host;
  std::string reval_version;
  std::string preset;           // suite preset id and version, or ""
  nlohmann::json config = nlohmann::json::object();  // effective config: tasks, k, sampling, seed, templates, ...
  std::string created_at;       // ISO-8601 UTC, set by the store
};

struct ProblemRecord {
  std::int64_t run_id = 0;
  std::string task;
  std::string problem_id;
  std::string prompt;                                   // the user turn as the model saw it
  nlohmann::json gold = nlohmann::json::array();        // acceptable answers
  nlohmann::json grading = nlohmann::json::object();    // grader fields (choices, tests, fn_name, ...)
  nlohmann::json metadata = nlohmann::json::object();   // subject, level, permutation, ...
};

struct SampleKey {
  std::string task;
  std::string problem_id;
  int sample_index = 0;
  auto operator<=>(const SampleKey&) const = default;
};

struct SampleRecord {
  std::int64_t run_id = 0;
  SampleKey key;
  std::string completion;
  std::int64_t prompt_tokens = -1;      // -1 when unknown
  std::int64_t completion_tokens = -1;
  std::string finish_reason;            // stop | length | error
  double latency_s = 0.0;
  std::uint64_t seed = 0;
  std::string error;                    // non-empty: generation failed (infra_error), completion is empty
  std::string created_at;               // set by the store
};

struct GradeRecord {
  std::int64_t run_id = 0;
  SampleKey key;
  std::string grader;
  std::string grader_version;
  GradeResult result;
  std::string created_at;               // set by the store
};

// A Codeforces-style rating of a run (results/codeforces_rating.hpp computes it). Keyed by (run, task, method,
// params): params is the request (attempts allowed, contests, ...), so recomputing it with new grades replaces the
// row. Numbers that do not exist are NaN (stored as NULL); open interval ends are +-infinity.
struct RatingRecord {
  std::int64_t run_id = 0;
  std::string task = "codeforces";
  std::string method;            // "standings" (CodeElo's method) | "problems" (MLE from problem ratings)
  nlohmann::json params = nlohmann::json::object();  // the request; part of the key
  double rating = 0.0;           // standings: mean of the contest ratings; problems: the MLE (a bound if censored)
  double se = 0.0;               // standard error
  double ci_lo = 0.0, ci_hi = 0.0;  // confidence interval (bootstrap over contests / profile likelihood)
  double percentile = 0.0;       // % of `population` rated below `rating`; NaN without a distribution
  std::string population;        // who the percentile is among
  int used = 0;                  // contests (standings) or problems (problems method) that entered the rating
  int skipped = 0;               // contests or problems left out (reasons in details.skipped)
  nlohmann::json details = nlohmann::json::object();  // per-contest / per-problem breakdown, skipped, notes
  std::string computed_at;       // set by the store
};

}  // namespace reval
