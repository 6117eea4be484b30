// The task table (name, description, answer kind, default grader, default k, loader) and the entry points over it:
// load_task dispatches to a loader and checks the result is not empty and ids are unique; task_statuses loads every
// task and reports the missing or broken ones as unavailable instead of failing.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <set>

#include <fmt/format.h>

#include "base/error.hpp"
#include "base/sha256.hpp"
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

// The official releases as data/SOURCES.md describes them: problem counts and the sha256 of the file, so a cut,
// emptied or swapped file is noticed before anything is generated for it.
struct Release {
  const char* task;
  std::size_t problems;
  const char* file;    // relative to the data directory ("" = several files: count only)
  const char* sha256;  // "" = no checksum known
};
constexpr Release kReleases[] = {
    {"aime24", 30, "aime2024/test.jsonl", "af2b8bd2aa911b6333ad0df32f3ca05c7ae8ed10f1731f4372c8ae26990bf7ac"},
    {"aime25", 30, "aime2025/test.jsonl", "5ee6e9fb9b8c0408c8e3591709b6927063abf73ed238c029167a7eff7376cca0"},
    {"math500", 500, "math500/test.jsonl", "35dc41080a3680858b27fa7e0533d2d547825316fc5dafe5d316f4ccc5a06132"},
    {"gpqa_diamond", 198, "gpqa/gpqa_diamond.zip", "d91f9443510a795a298db9be8a5ebd8880e6b6f33837307b735ede4c444ea72f"},
    {"mmlu", 14042, "", ""},
    {"gsm8k", 1319, "gsm8k/test.jsonl", "3730d312f6e3440559ace48831e51066acaca737f6eabec99bccb9e4b3c39d14"},
    {"humaneval", 164, "humaneval/HumanEval.jsonl.gz", "b796127e635a67f93fb35c04f4cb03cf06f38c8072ee7cee8833d7bee06979ef"},
};

void check_release(std::string_view task, const std::vector<Problem>& problems, const LoadOptions& o) {
  if (problems.empty()) {
    if (o.filters.is_object() && !o.filters.empty())
      throw Error(fmt::format("{}: no problems match the filters {} (data under {})", task, o.filters.dump(),
                              o.data_dir));
    throw Error(fmt::format("{}: no problems in the data files under {} (an empty file?)", task, o.data_dir));
  }
  for (const auto& r : kReleases) {
    if (task != r.task) continue;
    if (problems.size() != r.problems) {
      std::string msg = fmt::format(
          "{}: {} problems loaded from {}, but the official release has {}: the file may be cut short, or be another "
          "release",
          task, problems.size(), o.data_dir, r.problems);
      if (!o.accept_data_release) throw Error(msg + " (pass --accept-data-release to evaluate it anyway)");
      if (o.warn) o.warn("warning: " + msg + " (accepted)");
      else std::fprintf(stderr, "reval: warning: %s (accepted)\n", msg.c_str());
    }
    if (*r.file && *r.sha256) {
      std::string path = tasks_detail::join_path(o.data_dir, r.file);
      std::string got = sha256_file(path);
      if (got != r.sha256) {
        std::string msg = fmt::format("{}: {} has sha256 {}, not the official release's {} (same problem count)",
                                      task, path, got.substr(0, 16) + "...", std::string(r.sha256).substr(0, 16) + "...");
        if (o.warn) o.warn("warning: " + msg);
        else std::fprintf(stderr, "reval: warning: %s\n", msg.c_str());
      }
    }
  }
}

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
  check_release(name, problems, options);
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
