// `reval merge OUT.db IN.db...`: combine result databases written on several machines (typically the shards of one
// run, `reval eval --shard I/N`) into one that reports exactly like a single-machine run.
//
// Theory of operation
// - Runs are matched by name. Before anything is written, every input run is checked against the run of that name
//   in OUT (if OUT has it) and in the inputs before it: the same model, model hash, backend and preset, and
//   configurations that describe the same evaluation (combine_run_configs(): sampling, system prompt, templates,
//   each task's grader and filters, the shard count). A mismatch refuses the whole merge, naming the file, the run
//   and the field; OUT is left untouched.
// - Then, per run and task: problems are copied (a problem already in OUT with a different prompt, gold or grading
//   is a conflict: reported, OUT's kept). Each sample is compared with OUT's sample of the same key (task,
//   problem, index): absent -> copied with its grade; the same text and error -> a duplicate, merged once (its
//   grade is copied if OUT's copy had none); OUT's failed (infra_error) and the input's generated -> the generated
//   one replaces it; a generated sample in OUT and a failed one in the input -> OUT's kept; both generated with
//   different text -> a conflict: reported, never overwritten. Samples and grades keep their created_at.
// - Finally the run's stored configuration becomes the union (tasks, shards; the shard key disappears when every
//   shard is present) with each task's problem count taken from what OUT now holds, plus "merged_from" (each input's
//   file, host, device, shard and reval version: provenance), and its Codeforces-style ratings are recomputed from
//   the merged grades (results/codeforces_rating.hpp).
// Inputs are opened read-only; OUT is created if missing and its runs are leased while written.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "results/records.hpp"

namespace reval {

struct MergeOptions {
  std::string out;                  // created if missing; may already hold runs (they take part in the merge)
  std::vector<std::string> inputs;  // read-only; none may be OUT itself
  std::vector<std::string> runs;    // run names to merge; empty = every run of the inputs
};

struct MergeConflict {
  std::string run;
  std::string input;     // the file whose row was not taken
  SampleKey key;         // the sample (sample_index -1: the problem itself)
  std::string what;      // e.g. "different completion text (kept: 812 bytes from a.db; b.db: 790 bytes)"
};

struct MergeRunStats {
  std::string run;
  bool created = false;              // the run did not exist in OUT before
  std::int64_t problems_added = 0;
  std::int64_t samples_added = 0;
  std::int64_t grades_added = 0;
  std::int64_t duplicates = 0;       // identical samples seen again (merged once)
  std::int64_t failed_replaced = 0;  // OUT's infra_error sample replaced by a generated one
  std::int64_t failed_ignored = 0;   // an input's infra_error sample where OUT has a generated one
  std::int64_t conflicts = 0;
  std::vector<std::string> notes;    // differences that do not refuse the merge (engine or reval versions)
  nlohmann::json config;             // the run's stored configuration after the merge
};

struct MergeStats {
  std::vector<MergeRunStats> runs;
  std::vector<MergeConflict> conflicts;
};

// Throws reval::Error (nothing written) for unreadable inputs, OUT among the inputs, an unknown run name or runs
// that are not the same evaluation.
MergeStats merge_databases(const MergeOptions& options);

}  // namespace reval
