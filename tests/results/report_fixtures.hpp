// A small results store for the HTML report tests (structural and in a browser): three runs, one of whose name
// needs HTML escaping, on three tasks that exercise every part of the page:
//   math500       k=4, math grader, metadata level (2, 10: natural order) and subject; run "model<A>" solves more
//   mmlu          k=1, choice grader, metadata subject/category (no pass@k chart: k = 1)
//   livecodebench k=2, code grader (no cons@k), metadata difficulty/platform, one completion that tries to close
//                 the page's <script> element
// Completions end in "\boxed{answer}" (math) so the page can highlight it; every 4th math sample is truncated.
#pragma once
#include <string>
#include <vector>

#include <fmt/format.h>

#include "results/store.hpp"

namespace reval::test {

struct ReportFixtureInfo {
  std::vector<RunInfo> runs;
  int math_problems = 6, mmlu_problems = 5, code_problems = 4;
};

inline ReportFixtureInfo fill_report_store(SampleStore& store) {
  ReportFixtureInfo info;
  const std::vector<std::string> names = {"model<A>&co", "model-b", "model-c"};
  for (size_t ri = 0; ri < names.size(); ++ri) {
    RunInfo r;
    r.name = names[ri];
    r.model = "org/" + names[ri];
    r.backend = "replay";
    RunInfo run = store.create_or_open_run(r);
    info.runs.push_back(run);
    std::vector<ProblemRecord> problems;
    auto add_problem = [&](const std::string& task, const std::string& id, nlohmann::json gold, nlohmann::json meta) {
      ProblemRecord p;
      p.run_id = run.id;
      p.task = task;
      p.problem_id = id;
      p.prompt = "Question " + id + ": what is 6 x 7? <b>bold</b>\nPlease reason step by step.";
      p.gold = std::move(gold);
      p.metadata = std::move(meta);
      problems.push_back(std::move(p));
    };
    for (int i = 0; i < info.math_problems; ++i)
      add_problem("math500", fmt::format("test/algebra/{}.json", i), nlohmann::json::array({"42"}),
                  {{"level", i % 2 ? 10 : 2}, {"subject", i < 3 ? "Algebra" : "Geometry"}});
    for (int i = 0; i < info.mmlu_problems; ++i)
      add_problem("mmlu", fmt::format("astronomy/{}", i), nlohmann::json::array({"B"}),
                  {{"subject", i < 2 ? "astronomy" : "virology"}, {"category", i < 2 ? "STEM" : "other"}});
    for (int i = 0; i < info.code_problems; ++i)
      add_problem("livecodebench", fmt::format("lcb{}", i), nlohmann::json::array(),
                  {{"difficulty", i < 2 ? "easy" : "hard"}, {"platform", "atcoder"}});
    store.put_problems(problems);

    auto sample = [&](const std::string& task, const std::string& pid, int j, bool correct, const std::string& answer,
                      const std::string& grader, const std::string& text, bool truncated) {
      SampleRecord s;
      s.run_id = run.id;
      s.key = {task, pid, j};
      s.completion = text;
      s.completion_tokens = 100 + 10 * j + static_cast<int>(ri);
      s.finish_reason = truncated ? "length" : "stop";
      s.latency_s = 1;
      store.add_sample(s);
      GradeRecord g;
      g.run_id = run.id;
      g.key = s.key;
      g.grader = grader;
      g.grader_version = "1";
      g.result.verdict = correct ? Verdict::correct : Verdict::wrong;
      g.result.score = correct ? 1 : 0;
      g.result.extracted = answer;
      store.add_grade(g);
    };
    for (int i = 0; i < info.math_problems; ++i)
      for (int j = 0; j < 4; ++j) {
        bool ok = (i + j + static_cast<int>(ri)) % (ri == 0 ? 2 : 3) == 0;
        std::string ans = ok ? "42" : std::to_string(40 + j);
        std::string text = "Let me think step by step. " + std::string(200, 'x') + "\nSo the answer is \\boxed{" + ans +
                           "}.";
        sample("math500", fmt::format("test/algebra/{}.json", i), j, ok, ans, "math", text, j == 3);
      }
    for (int i = 0; i < info.mmlu_problems; ++i) {
      bool ok = (i + static_cast<int>(ri)) % 2 == 0;
      sample("mmlu", fmt::format("astronomy/{}", i), 0, ok, ok ? "B" : "C", "choice", "Answer: " + std::string(ok ? "B" : "C"),
             false);
    }
    for (int i = 0; i < info.code_problems; ++i)
      for (int j = 0; j < 2; ++j) {
        bool ok = (i + j) % 2 == 0;
        std::string code = i == 0 && j == 0 ? "print('</script><script>document.title=1</script>')" : "print(input())";
        sample("livecodebench", fmt::format("lcb{}", i), j, ok, code, "code", "```python\n" + code + "\n```", false);
      }
  }
  store.flush();
  return info;
}

}  // namespace reval::test
