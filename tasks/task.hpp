// Benchmarks: each task knows how to load its official files into Problems, build the prompt exactly as the R1
// protocol says, and which grader judges it. Problems carry everything downstream stages need (gold answers and
// grader fields), so the model and graders never look back at tasks.
//
// Data layout under the data directory (the same as ../shared/data; docs/tasks.md has the details):
//   math500/test.jsonl  aime2024/test.jsonl  aime2025/test.jsonl  gsm8k/test.jsonl  humaneval/HumanEval.jsonl.gz
//   gpqa/gpqa_diamond.zip (password protected)  mmlu/test/<subject>_test.csv  mmlu_pro/test.jsonl
//   livecodebench/test.jsonl, test2.jsonl, ... test6.jsonl  codeforces/<problem>.json (docs/codeforces_format.md)
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace reval {

enum class AnswerKind { math, choice, code_stdio, code_functional, codeforces, humaneval };
std::string_view to_string(AnswerKind k);

struct Problem {
  std::string task;
  std::string id;                      // stable within the task (e.g. "test/algebra/1.json", "2024-I-1")
  std::string prompt;                  // the user turn exactly as the model sees it (before the chat template)
  std::vector<std::string> gold;       // acceptable answers; empty for code tasks
  nlohmann::json grading = nlohmann::json::object();   // grader fields: choices, tests, fn_name, limits, checker
  nlohmann::json metadata = nlohmann::json::object();  // subject, level, url, permutation, contest_date, ...
};

struct TaskInfo {
  std::string name;            // e.g. "math500"
  std::string description;
  AnswerKind kind;
  std::string grader;          // default grader name: math | choice | code
  int default_samples = 1;     // k in the R1 protocol
};

struct LoadOptions {
  std::string data_dir;                          // root holding the benchmark files (see tasks/README or docs)
  std::uint64_t seed = 0;                        // e.g. GPQA choice shuffling
  std::optional<std::string> prompt_template;    // file overriding the task's prompt ("{problem}" placeholders)
  nlohmann::json filters = nlohmann::json::object();  // task-specific: {"date_from","date_to","release"} for LCB
  // GPQA zip password; empty: $REVAL_GPQA_PASSWORD, else the password the GPQA authors publish.
  std::string gpqa_password;
  // Known datasets are checked against their official release: a different number of problems is an error (a cut
  // or partial file) unless this is set; a different checksum with the right count is a warning.
  bool accept_data_release = false;
  // Where warnings go (one line each); empty: stderr.
  std::function<void(const std::string&)> warn;
};

const std::vector<TaskInfo>& all_tasks();
// Throws reval::Error naming the unknown task and listing the known ones.
const TaskInfo& task_info(std::string_view name);
// Loads every problem of a task. Bad rows fail the load with file, line and field named.
std::vector<Problem> load_task(std::string_view name, const LoadOptions& options);
// The data directory: `explicit_dir` if set, else $REVAL_DATA, else the per-user cache ($XDG_CACHE_HOME/reval/data).
std::string resolve_data_dir(const std::string& explicit_dir);

// One row of `reval tasks`: a task whose files are missing or broken is unavailable, with the reason in `error`.
struct TaskStatus {
  TaskInfo info;
  bool available = false;
  std::size_t problems = 0;
  std::string error;
  std::string note;  // e.g. how the count was obtained when it was not a full load
};
std::vector<TaskStatus> task_statuses(const LoadOptions& options);
nlohmann::json to_json(const TaskStatus& status);
nlohmann::json to_json(const Problem& problem);
// The problem with this id, or reval::Error naming the task and the id.
Problem find_problem(std::string_view task, std::string_view id, const LoadOptions& options);

// Renders `tmpl`, replacing each {name} whose name is a key of `vars` (values are inserted verbatim and not
// re-scanned); every other brace, e.g. the "\boxed{}" of the math prompt, is kept as written.
std::string render_prompt_template(std::string_view tmpl, const nlohmann::json& vars);

}  // namespace reval
