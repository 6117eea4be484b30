// The task table (name, description, answer kind, default grader, default k, loader) and the entry points over it:
// load_task dispatches to a loader and checks the result is not empty and ids are unique; task_statuses loads every
// task and reports the missing or broken ones as unavailable instead of failing.
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <set>

#include <fmt/format.h>

#include "base/error.hpp"
#include "tasks/internal.hpp"

namespace reval {
namespace {

using Loader = std::vector<Problem> (*)(const LoadOptions&);

struct TaskDef {
  TaskInfo info;
  Loader load;
  bool takes_filters;
  std::size_t (*quick_count)(const LoadOptions&) = nullptr;  // cheap row count for `reval tasks`, if loading is heavy
};

const std::vector<TaskDef>& defs() {
  using namespace tasks_detail;
  static const std::vector<TaskDef> d = {
      {{"aime24", "AIME 2024 I and II (30 problems, integer answers)", AnswerKind::math, "math", 64}, load_aime24, false},
      {{"aime25", "AIME 2025 I and II (30 problems, integer answers)", AnswerKind::math, "math", 64}, load_aime25, false},
      {{"math500", "MATH-500 (PRM800K test split of MATH)", AnswerKind::math, "math", 4}, load_math500, false},
      {{"gpqa_diamond", "GPQA Diamond (198 graduate-level science questions, 4 shuffled choices)", AnswerKind::choice,
        "choice", 8}, load_gpqa_diamond, false},
      {{"mmlu", "MMLU (57 subjects, 4 choices)", AnswerKind::choice, "choice", 1}, load_mmlu, false},
      {{"mmlu_pro", "MMLU-Pro (up to 10 choices; JSONL export)", AnswerKind::choice, "choice", 1}, load_mmlu_pro, false},
      {{"livecodebench", "LiveCodeBench code generation (stdin and functional problems, Python)",
        AnswerKind::code_stdio, "code", 16}, load_livecodebench, true, count_livecodebench_rows},
      {{"codeforces", "Codeforces-style problem packages (C++17, stdin/stdout, checkers)", AnswerKind::codeforces,
        "code", 8}, load_codeforces, true},
      {{"gsm8k", "GSM8K grade-school math (1319 problems)", AnswerKind::math, "math", 1}, load_gsm8k, false},
      {{"humaneval", "HumanEval (164 Python functions)", AnswerKind::humaneval, "code", 1}, load_humaneval, false},
  };
  return d;
}

const TaskDef& def(std::string_view name) {
  for (const auto& d : defs())
    if (d.info.name == name) return d;
  std::string known;
  for (const auto& d : defs()) known += (known.empty() ? "" : ", ") + d.info.name;
  throw Error(fmt::format("unknown task '{}' (known: {})", name, known));
}

}  // namespace

std::string_view to_string(AnswerKind k) {
  switch (k) {
    case AnswerKind::math: return "math";
    case AnswerKind::choice: return "choice";
    case AnswerKind::code_stdio: return "code_stdio";
    case AnswerKind::code_functional: return "code_functional";
    case AnswerKind::codeforces: return "codeforces";
    case AnswerKind::humaneval: return "humaneval";
  }
  return "unknown";
}

const std::vector<TaskInfo>& all_tasks() {
  static const std::vector<TaskInfo> infos = [] {
    std::vector<TaskInfo> v;
    for (const auto& d : defs()) v.push_back(d.info);
    return v;
  }();
  return infos;
}

const TaskInfo& task_info(std::string_view name) { return def(name).info; }

std::vector<Problem> load_task(std::string_view name, const LoadOptions& options) {
  const TaskDef& d = def(name);
  if (!d.takes_filters && options.filters.is_object() && !options.filters.empty())
    throw Error(fmt::format("{}: this task takes no filters (got {})", name, options.filters.dump()));
  if (options.prompt_template) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(*options.prompt_template, ec))
      throw Error(fmt::format("prompt template {} does not exist", *options.prompt_template));
  }
  std::vector<Problem> problems = d.load(options);
  std::set<std::string_view> ids;
  for (const auto& p : problems)
    if (!ids.insert(p.id).second) throw Error(fmt::format("{}: duplicate problem id '{}'", name, p.id));
  return problems;
}

std::string resolve_data_dir(const std::string& explicit_dir) {
  if (!explicit_dir.empty()) return explicit_dir;
  if (const char* env = std::getenv("REVAL_DATA"); env && *env) return env;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) return std::string(xdg) + "/reval/data";
  if (const char* home = std::getenv("HOME"); home && *home) return std::string(home) + "/.cache/reval/data";
  throw Error("cannot find a data directory: pass --data-dir or set REVAL_DATA (HOME is not set)");
}

std::vector<TaskStatus> task_statuses(const LoadOptions& options) {
  std::vector<TaskStatus> out;
  for (const auto& d : defs()) {
    TaskStatus s;
    s.info = d.info;
    LoadOptions o = options;
    if (!d.takes_filters) o.filters = nlohmann::json::object();
    try {
      if (d.quick_count) {
        s.problems = d.quick_count(o);
        s.note = "rows counted without decoding (a full load also validates every row)";
      } else {
        s.problems = load_task(d.info.name, o).size();
      }
      s.available = true;
    } catch (const std::exception& e) {
      s.error = e.what();
    }
    out.push_back(std::move(s));
  }
  return out;
}

nlohmann::json to_json(const TaskStatus& s) {
  nlohmann::json j = {{"name", s.info.name},
                      {"description", s.info.description},
                      {"kind", to_string(s.info.kind)},
                      {"grader", s.info.grader},
                      {"default_k", s.info.default_samples},
                      {"available", s.available},
                      {"problems", s.problems}};
  if (!s.available) j["error"] = s.error;
  if (!s.note.empty()) j["note"] = s.note;
  return j;
}

nlohmann::json to_json(const Problem& p) {
  return {{"task", p.task}, {"id", p.id}, {"prompt", p.prompt}, {"gold", p.gold}, {"grading", p.grading},
          {"metadata", p.metadata}};
}

Problem find_problem(std::string_view task, std::string_view id, const LoadOptions& options) {
  auto problems = load_task(task, options);
  for (auto& p : problems)
    if (p.id == id) return std::move(p);
  std::string sample;
  for (size_t k = 0; k < problems.size() && k < 3; ++k) sample += (k ? ", " : "") + problems[k].id;
  throw Error(fmt::format("{}: no problem with id '{}' ({} problems; ids look like: {})", task, id, problems.size(),
                          sample));
}

}  // namespace reval
