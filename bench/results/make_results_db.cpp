// Builds a synthetic results database for the report and export benchmarks (bench/results/report_bench.sh):
// R runs x T tasks x K samples per problem, through the SampleStore like an evaluation would. Tasks are the real
// task names with their real metadata fields (MATH-500 level/subject, MMLU subject/category, GPQA domain,
// LiveCodeBench difficulty/platform, Codeforces rating, ...) and graders (math, choice, code), so the report does
// all of its work: breakdowns, votes, code tasks without votes. Whether a sample is right follows a logistic model
// of run skill against problem difficulty; ~5 % of samples stop at the length limit; completions are C characters
// of filler ending in the answer.
//
//   make_results_db --db F [--runs 10] [--tasks 10] [--samples 64] [--problems 200] [--completion-chars 800]
//                   [--seed 1] [--only TASK]
// --problems caps each task's problem count (tasks keep their real size when smaller: AIME 30, HumanEval 164).
// --only TASK builds that one task (e.g. mmlu --problems 1563 --samples 64: a 100k-sample run for export).
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "results/store.hpp"

using namespace reval;

namespace {

struct TaskSpec {
  const char* name;
  int size;            // real problem count
  const char* grader;  // math | choice | code
};

const TaskSpec kTasks[] = {{"aime24", 30, "math"},          {"aime25", 30, "math"},
                           {"math500", 500, "math"},        {"gpqa_diamond", 198, "choice"},
                           {"mmlu", 14042, "choice"},       {"mmlu_pro", 12032, "choice"},
                           {"livecodebench", 279, "code"},  {"codeforces", 400, "code"},
                           {"gsm8k", 1319, "math"},         {"humaneval", 164, "code"}};

nlohmann::json metadata(const std::string& task, int i, std::mt19937_64& rng) {
  static const char* subjects[] = {"Algebra", "Counting & Probability", "Geometry", "Intermediate Algebra",
                                   "Number Theory", "Prealgebra", "Precalculus"};
  static const char* mmlu[] = {"abstract_algebra", "anatomy", "astronomy", "college_physics", "philosophy",
                               "sociology", "virology", "world_religions"};
  static const char* mmlu_cat[] = {"STEM", "other", "STEM", "STEM", "humanities", "social sciences", "other",
                                   "humanities"};
  if (task == "math500") return {{"level", 1 + i % 5}, {"subject", subjects[i % 7]}};
  if (task == "mmlu") return {{"subject", mmlu[i % 8]}, {"category", mmlu_cat[i % 8]}};
  if (task == "mmlu_pro") return {{"category", std::vector<const char*>{"math", "law", "biology", "history"}[i % 4]}};
  if (task == "gpqa_diamond") return {{"domain", std::vector<const char*>{"Physics", "Chemistry", "Biology"}[i % 3]}};
  if (task == "livecodebench")
    return {{"difficulty", std::vector<const char*>{"easy", "medium", "hard"}[i % 3]},
            {"platform", std::vector<const char*>{"atcoder", "leetcode", "codeforces"}[i % 3]}};
  if (task == "codeforces") return {{"rating", 800 + 100 * static_cast<int>(rng() % 27)}, {"tags", {"dp", "math"}}};
  if (task == "aime24" || task == "aime25") return {{"contest", i < 15 ? "AIME I" : "AIME II"}};
  return nlohmann::json::object();
}

std::string filler(std::size_t chars, std::mt19937_64& rng) {
  static const char* words[] = {"so ", "we ", "consider ", "the ", "sum ", "of ", "terms ", "then ", "wait, ",
                                "let ", "x ", "= ", "2 ", "check ", "again. ", "hence\n"};
  std::string s;
  s.reserve(chars + 16);
  while (s.size() < chars) s += words[rng() % std::size(words)];
  s.resize(chars);
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  std::string db;
  int runs = 10, tasks = 10, samples = 64, cap = 200, chars = 800;
  std::uint64_t seed = 1;
  std::string only;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--db") db = v;
    else if (k == "--runs") runs = std::atoi(v.c_str());
    else if (k == "--tasks") tasks = std::atoi(v.c_str());
    else if (k == "--samples") samples = std::atoi(v.c_str());
    else if (k == "--problems") cap = std::atoi(v.c_str());
    else if (k == "--completion-chars") chars = std::atoi(v.c_str());
    else if (k == "--seed") seed = std::strtoull(v.c_str(), nullptr, 10);
    else if (k == "--only") only = v;
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  if (db.empty() || runs < 1 || tasks < 1 || tasks > 10 || samples < 1 || cap < 1 || chars < 0) {
    std::fprintf(stderr, "usage: make_results_db --db F [--runs 10] [--tasks 1..10] [--samples 64] [--problems 200] "
                         "[--completion-chars 800] [--seed 1]\n");
    return 2;
  }
  std::vector<TaskSpec> specs;
  for (const auto& t : kTasks)
    if (only.empty() ? static_cast<int>(specs.size()) < tasks : only == t.name) specs.push_back(t);
  if (specs.empty()) {
    std::fprintf(stderr, "unknown task %s\n", only.c_str());
    return 2;
  }
  auto t0 = std::chrono::steady_clock::now();
  auto store = open_sqlite_store(db);
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  std::int64_t total = 0;
  for (int r = 0; r < runs; ++r) {
    RunInfo info;
    info.name = fmt::format("model-{:02d}", r);
    info.model = "org/" + info.name;
    info.backend = "replay";
    info.config = {{"synthetic", true}, {"samples", samples}};
    RunInfo run = store->create_or_open_run(info);
    double skill = -1.0 + 2.0 * r / std::max(1, runs - 1);
    for (size_t t = 0; t < specs.size(); ++t) {
      const TaskSpec& spec = specs[t];
      int problems = std::min(spec.size, cap);
      std::mt19937_64 prng(seed * 1000 + static_cast<std::uint64_t>(t));  // same problems in every run
      std::vector<ProblemRecord> recs;
      std::vector<double> difficulty;
      for (int i = 0; i < problems; ++i) {
        ProblemRecord p;
        p.run_id = run.id;
        p.task = spec.name;
        p.problem_id = fmt::format("{}-{:05d}", spec.name, i);
        p.prompt = "Problem " + p.problem_id + ": " + filler(400, prng) + "\nPlease reason step by step.";
        p.gold = std::string(spec.grader) == "code" ? nlohmann::json::array() : nlohmann::json::array({"42"});
        p.metadata = metadata(spec.name, i, prng);
        recs.push_back(std::move(p));
        difficulty.push_back(std::normal_distribution<double>(0.0, 1.5)(prng));
      }
      store->put_problems(recs);
      for (int i = 0; i < problems; ++i) {
        double p_ok = 1.0 / (1.0 + std::exp(difficulty[static_cast<size_t>(i)] - skill));
        for (int j = 0; j < samples; ++j) {
          bool ok = std::uniform_real_distribution<double>()(rng) < p_ok;
          bool truncated = rng() % 20 == 0;
          std::string answer = ok ? "42" : std::to_string(rng() % 5);
          SampleRecord s;
          s.run_id = run.id;
          s.key = {spec.name, recs[static_cast<size_t>(i)].problem_id, j};
          s.completion = filler(static_cast<std::size_t>(chars), rng) +
                         (truncated ? "" : "\nThe answer is \\boxed{" + answer + "}.");
          s.prompt_tokens = 150;
          s.completion_tokens = static_cast<std::int64_t>(s.completion.size() / 4);
          s.finish_reason = truncated ? "length" : "stop";
          s.latency_s = 1.0 + normal(rng) * 0.1;
          s.seed = rng();
          store->add_sample(s);
          GradeRecord g;
          g.run_id = run.id;
          g.key = s.key;
          g.grader = spec.grader;
          g.grader_version = "1";
          if (truncated) {
            g.result.verdict = Verdict::no_answer;
          } else {
            g.result.verdict = ok ? Verdict::correct : Verdict::wrong;
            g.result.extracted = std::string(spec.grader) == "code" ? "print(" + answer + ")" : answer;
          }
          g.result.score = ok && !truncated ? 1.0 : 0.0;
          g.result.details = {{"method", "synthetic"}};
          store->add_grade(g);
          ++total;
        }
      }
    }
  }
  store->flush();
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%s: %d runs x %zu tasks x %d samples per problem: %lld samples in %.1f s\n", db.c_str(), runs,
              specs.size(), samples, static_cast<long long>(total), s);
  return 0;
}
