// A run's stored configuration (RunInfo::config) across the ways one run is built up: a resumed `reval eval`
// (perhaps with new tasks, a larger k or a longer --limit), `reval eval --shard I/N` on several machines, and
// `reval merge` of their databases.
//
// Theory of operation. The config written by plan_eval() holds
//   tasks          [{task, samples, problems, grader, filters}]   what the run holds, per task
//   sampling       the sampling parameters (absent for replay runs, which use none)
//   system_prompt  the system turn (null = none), prompt_template, chat_template, chat_template_id
//   data_dir, limit, backend_details (servers, tokenizer, ...: provenance only)
//   shard          {"count": N, "indices": [I, ...]} while the run holds only some shards of its problems
// combine_run_configs() decides whether a stored config and a new one describe the same evaluation, and returns
// the config of the union: everything that changes what a sample means (sampling, system prompt, templates, a
// task's grader and filters, the shard count) must be equal, else reval::Error names the field and both values;
// tasks are united (k and problem counts take the larger value), shard indices are united (the key disappears once
// every shard is present), --limit takes the larger (0 = all). Provenance (data_dir, backend_details) keeps the
// stored value.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace reval {

// `--shard I/N`: this machine evaluates the problems at positions p (0-based, in each task's load order, after
// --limit) with p mod N == I - 1. The split depends only on a problem's position, so it is the same on every
// machine with the same data, and a larger --limit keeps every problem in its shard.
struct ShardSpec {
  int index = 0;  // 1-based; 0 = not sharded
  int count = 0;
  bool active() const { return count > 0; }
  bool holds(std::size_t position) const {
    return !active() || static_cast<int>(position % static_cast<std::size_t>(count)) == index - 1;
  }
  std::string label() const { return std::to_string(index) + "/" + std::to_string(count); }
};
// Parses "I/N" (1 <= I <= N <= 4096). Throws reval::Error naming --shard.
ShardSpec parse_shard(const std::string& text);

// See the theory of operation. `what` names the stored run in errors ("run 'x'", "run 'x' in b.db").
nlohmann::json combine_run_configs(const nlohmann::json& stored, const nlohmann::json& incoming,
                                   const std::string& what);

// The differences between two configs a user should hear about when a stored config is updated, e.g.
// "task gsm8k added", "math500: k 4 -> 8", "shards 1,2 of 4". Empty when nothing relevant changed.
std::vector<std::string> config_changes(const nlohmann::json& before, const nlohmann::json& after);

}  // namespace reval
