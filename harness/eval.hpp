// Evaluation orchestration: problems -> samples -> grades -> stored rows, resumable.
//
// Theory of operation. plan_eval() resolves tasks (from --tasks or a suite preset), loads their problems and
// builds the run's provenance. execute_eval() then asks the store which (task, problem, sample_index) triples
// already exist, sends one GenerationRequest per problem for the missing indices to the backend from a pool of
// `concurrency` threads, and hands each completion as soon as it exists to the store (durable in a background
// transaction) and to a grading pool. A crash loses at most the samples still queued for writing; running the
// same command again generates only what is missing. Samples whose generation failed are stored with their
// error and graded infra_error; a resume retries them. regrade() re-grades stored samples with the current
// graders without generating anything.
#pragma once
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "model/backend.hpp"
#include "model/backends.hpp"
#include "model/hub.hpp"
#include "results/records.hpp"
#include "results/store.hpp"
#include "tasks/task.hpp"

namespace reval {

struct EvalOptions {
  std::string model;                 // model dir, hub id ("org/name[@rev]", native) or served model name, as typed
  std::string backend = "native";    // native | openai | replay
  std::vector<std::string> tasks;    // task names; empty with a suite = the suite's tasks
  std::string suite;                 // preset name or file (e.g. "r1"); sets tasks, k, sampling unless overridden
  int samples = 0;                   // k per problem; 0 = the preset's or task's default
  std::string db = "reval.db";
  std::string run_name;              // default: "<model basename>-<backend>"
  // Sampling: the R1 protocol (T 0.6, top-p 0.95, 32768 new tokens, seed 0), then the suite preset's values,
  // then these explicit settings (set only what the user asked for).
  std::optional<double> temperature, top_p, min_p;
  std::optional<int> top_k, max_new_tokens;
  std::optional<std::uint64_t> seed;  // run seed (default: the preset's, else 0)
  int limit = 0;                     // first N problems of each task (0 = all)
  int concurrency = 0;               // parallel requests (0 = the backend's max_concurrency())
  int grading_threads = 0;           // 0 = hardware concurrency
  std::string data_dir;              // see resolve_data_dir()
  std::string prompt_template;       // file overriding the tasks' prompt
  bool accept_data_release = false;  // evaluate a data file whose problem count differs from the official release
  bool progress = true;              // progress line on stderr
  // The backend's own settings (model/backends.hpp): replay file, server URL, endpoint, retries, native threads,
  // chat template, ... `model` above fills backend_options.model (a hub id is resolved to its download first).
  BackendOptions backend_options;
  // native: where "org/name" models come from (model/hub.hpp).
  HubOptions hub;
};

struct TaskPlan {
  TaskInfo info;
  int samples = 1;
  std::vector<Problem> problems;
};

struct EvalPlan {
  RunInfo run;
  std::vector<TaskPlan> tasks;
  SamplingParams sampling;
  int concurrency = 1;
  int grading_threads = 1;
  bool progress = true;
};

struct EvalStats {
  std::int64_t run_id = 0;
  std::int64_t expected = 0;      // problems x k over all tasks
  std::int64_t already_stored = 0;
  std::int64_t generated = 0;
  std::int64_t generation_errors = 0;  // infra_error samples produced this time
  std::string first_generation_error;  // the message of the first of them ("" when none), for the user
  std::int64_t graded = 0;
  bool interrupted = false;
};

// Loads tasks and builds the plan (no generation). Throws reval::Error for unknown tasks or bad data.
EvalPlan plan_eval(const EvalOptions& options, const BackendInfo& backend, int backend_concurrency);

// Generates what is missing, stores and grades it. `stop` (optional) is polled between requests and handed to the
// backend as GenerationRequest::cancel: when it becomes true, no new request starts, samples already finished are
// stored, and a backend that can stop early drops the unfinished ones (a resume generates them).
EvalStats execute_eval(const EvalPlan& plan, SampleStore& store, Backend& backend,
                       const std::atomic<bool>* stop = nullptr);

// Opens the store and backend named by the options and runs plan + execute (the `reval eval` command).
EvalStats run_eval(const EvalOptions& options, const std::atomic<bool>* stop = nullptr);

// The backend the options name (native | openai | replay), with a hub id resolved to its cached download first.
// Throws reval::Error on bad settings.
std::unique_ptr<Backend> open_backend(const EvalOptions& options);

struct RegradeOptions {
  std::string db;
  std::vector<std::string> runs;    // names or ids; empty = every run
  std::vector<std::string> tasks;   // empty = every task
  int threads = 0;                  // 0 = hardware concurrency
  bool progress = true;
};
// Re-grades stored samples with the current graders (adds grade rows; samples are untouched). Returns the number
// of samples graded.
std::int64_t regrade(const RegradeOptions& options);

}  // namespace reval
