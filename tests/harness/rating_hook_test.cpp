// The ratings hook in the harness: after `execute_eval` stores and grades samples of the codeforces task, and after
// `regrade` re-grades them, the run's Codeforces-style rating (results/codeforces_rating.hpp) is recomputed and
// stored. A scripted backend answers; the task keeps its name "codeforces" (what the ratings read) with the math
// grader so that the eval needs no compiler; regrade then uses the real code grader, for which "\boxed{..}" is a
// program that does not compile.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <mutex>

#include <fmt/format.h>

#include "harness/eval.hpp"
#include "results/store.hpp"
#include "tests/test_util.hpp"

using namespace reval;

namespace {

// Problems p0..p2 are answered right at sample 1 only; the others always wrong.
class TwoTryBackend : public Backend {
 public:
  BackendInfo info() const override { return {"fake", "fake-model", "hash", "fake 1.0", "none", ""}; }
  int max_concurrency() const override { return 2; }
  std::vector<Completion> generate(const GenerationRequest& req,
                                   const std::function<void(const Completion&)>& on_sample) override {
    std::vector<Completion> out;
    int n = std::stoi(req.problem_id.substr(4));  // ids are "600-<n>"
    for (int i : req.sample_indices) {
      Completion c;
      c.sample_index = i;
      bool right = n < 3 && i == 1;
      c.text = fmt::format("\\boxed{{{}}}", right ? n + 1 : -1);
      if (on_sample) on_sample(c);
      out.push_back(c);
    }
    return out;
  }
};

EvalPlan make_plan(const std::string& data_dir) {
  EvalPlan plan;
  plan.run.name = "cf-run";
  plan.run.model = "fake-model";
  plan.run.backend = "fake";
  plan.run.config = {{"sampling", to_json(SamplingParams{})}, {"data_dir", data_dir}};
  TaskPlan tp;
  tp.info = TaskInfo{"codeforces", "test", AnswerKind::codeforces, "math", 2};
  tp.samples = 2;
  for (int i = 0; i < 10; ++i) {
    Problem p;
    p.task = "codeforces";
    p.id = fmt::format("600-{}", i);
    p.prompt = "problem " + p.id;
    p.gold = {std::to_string(i + 1)};
    p.metadata = {{"contest_id", 600}, {"index", std::to_string(i)}, {"rating", 1600}};
    p.grading = {{"mode", "stdio"},     {"language", "cpp"},     {"tests", {{{"input", ""}, {"output", "1\n"}}}},
                 {"time_limit", 1.0},   {"memory_limit", 256.0}, {"checker", "tokens"}};
    tp.problems.push_back(p);
  }
  plan.tasks.push_back(tp);
  plan.concurrency = 2;
  plan.grading_threads = 2;
  plan.progress = false;
  return plan;
}

}  // namespace

TEST(RatingHook, EvalThenRegradeRecomputeTheRating) {
  test::TempDir dir;
  std::string db = dir.file("r.db");
  std::int64_t run_id = 0;
  double after_eval = NAN;
  {
    auto store = open_sqlite_store(db);
    TwoTryBackend backend;
    auto stats = execute_eval(make_plan(dir.path()), *store, backend);
    run_id = stats.run_id;
    EXPECT_EQ(stats.graded, 20);
    auto rows = store->ratings(run_id);
    ASSERT_EQ(rows.size(), 1u) << "the problems method (nothing cached for standings)";
    EXPECT_EQ(rows[0].method, "problems");
    EXPECT_EQ(rows[0].used, 10);
    // 3 of 10 problems rated 1600 solved (at the second attempt): 1600 + 400 log10(3/7).
    after_eval = rows[0].rating;
    EXPECT_NEAR(after_eval, 1600 + 400 * std::log10(3.0 / 7.0), 1e-5);
  }
  // The code grader compiles "\boxed{..}" as a program and fails: nothing is solved any more.
  RegradeOptions ro;
  ro.db = db;
  ro.threads = 2;
  ro.progress = false;
  std::map<SampleKey, Verdict> before;
  {
    auto store = open_sqlite_store(db);
    for (const auto& g : store->grades(run_id)) before[g.key] = g.result.verdict;
  }
  ro.list_changes = true;
  RegradeStats regraded = regrade(ro);
  EXPECT_EQ(regraded.graded, 20);
  auto store = open_sqlite_store(db);
  // The changes regrade reports are exactly the verdicts that differ, and the grade was replaced, not appended.
  std::int64_t differ = 0;
  for (const auto& g : store->grades(run_id)) differ += before.at(g.key) != g.result.verdict;
  EXPECT_GE(differ, 3) << "the three correct samples are no longer correct";
  EXPECT_EQ(regraded.changed, differ);
  EXPECT_EQ(static_cast<std::int64_t>(regraded.changes.size()), differ);
  EXPECT_EQ(regraded.changes_by_kind.count("correct -> correct"), 0u);
  std::int64_t correct_before = 0;
  for (const auto& c : regraded.changes) {
    EXPECT_NE(c.old_verdict, c.new_verdict);
    correct_before += c.old_verdict == "correct";
  }
  EXPECT_EQ(correct_before, 3);
  EXPECT_EQ(store->check().rows.at("grades"), 20) << "a regrade replaces each grade (one row per sample)";
  for (const auto& g : store->grades(run_id)) {  // "\boxed{..}" does not compile: scored, not correct
    ASSERT_NE(g.result.verdict, Verdict::correct) << g.result.details.dump();
    ASSERT_NE(g.result.verdict, Verdict::infra_error) << g.result.details.dump();
  }
  auto rows = store->ratings(run_id);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].details["mle"]["solved"], 0);
  EXPECT_EQ(rows[0].details["mle"]["censored"], "none_solved");
  EXPECT_LT(rows[0].rating, after_eval);
}
