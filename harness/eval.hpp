// Evaluation orchestration: problems -> samples -> grades -> stored rows, resumable.
//
// Theory of operation. plan_eval() resolves tasks (from --tasks or a suite preset), loads their problems and
// builds the run's provenance. execute_eval() then asks the store which (task, problem, sample_index) triples
// already exist, sends one GenerationRequest per problem for the missing indices to the backend from a pool of
// `concurrency` threads, and hands each completion as soon as it exists to the store (durable in a background
// transaction) and to a grading pool. A crash loses at most the samples still queued for writing; running the
// same command again generates only what is missing. Samples whose generation failed are stored with their
// error and graded infra_error; a resume retries them. A stop request (Ctrl-C) starts no new request, lets
// in-flight requests and grading jobs finish, drops queued grading jobs (a resume grades those samples) and
// reports what is stored. A resumed run must mean the same evaluation (run_config.hpp: sampling, system prompt,
// templates, filters); new tasks, a larger k or a longer --limit extend it and update its stored configuration.
// regrade() (regrade.cpp) re-grades stored samples with the current graders without generating anything.
#pragma once
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "graders/grading.hpp"
#include "harness/regrade.hpp"
#include "harness/run_config.hpp"
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
  std::optional<std::vector<std::string>> stop;  // extra stop strings (replace the preset's; default none)
  // A system turn before every prompt. Default: the preset's, else none (the R1 protocol uses no system prompt).
  std::optional<std::string> system_prompt;
  // --filters: null = the preset's (else none); an object of filters (one task selected), or {task: filters, ...}
  // (docs/tasks.md lists each task's filters). Replaces the preset's filters of the tasks it names.
  nlohmann::json filters;
  ShardSpec shard;                   // --shard I/N: only this machine's share of the problems (run_config.hpp)
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
  std::optional<std::string> system_prompt;  // sent as a system message before each prompt when set
  int concurrency = 1;
  int grading_threads = 1;
  bool progress = true;
  // Graders to use (tests inject fakes); null = a fresh GraderSet.
  std::shared_ptr<GraderSet> graders;
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
  // The run's state in the store when execute_eval returned (all tasks of the run, earlier ones included).
  std::int64_t stored = 0;         // samples stored
  std::int64_t stored_graded = 0;  // of which graded
  std::int64_t left_to_grade = 0;  // stored but not graded: a resume grades them
};

// Loads tasks and builds the plan (no generation). Throws reval::Error for unknown tasks or bad data.
EvalPlan plan_eval(const EvalOptions& options, const BackendInfo& backend, int backend_concurrency);

// Generates what is missing, stores and grades it. `stop` (optional) is polled between requests, by every grading
// job, and handed to the backend as GenerationRequest::cancel: when it becomes true, no new request starts, samples
// already finished are stored, a backend that can stop early drops the unfinished ones (a resume generates them),
// grading jobs in flight finish and are stored, and queued grading jobs are dropped.
EvalStats execute_eval(const EvalPlan& plan, SampleStore& store, Backend& backend,
                       const std::atomic<bool>* stop = nullptr);

// Opens the store and backend named by the options and runs plan + execute (the `reval eval` command).
EvalStats run_eval(const EvalOptions& options, const std::atomic<bool>* stop = nullptr);

// The backend the options name (native | openai | replay), with a hub id resolved to its cached download first.
// Throws reval::Error on bad settings.
std::unique_ptr<Backend> open_backend(const EvalOptions& options);

}  // namespace reval
