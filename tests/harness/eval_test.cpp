// execute_eval with a scripted backend and a real SQLite store: every (problem, k) stored once and graded,
// resume generates only what is missing, failed generations become infra_error and are retried, a stop request
// ends the run early without losing what was generated.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <thread>
#include <map>
#include <mutex>

#include "base/error.hpp"
#include "harness/eval.hpp"
#include "results/store.hpp"
#include "tests/results/fault_vfs.hpp"
#include "tests/test_util.hpp"

using namespace reval;

namespace {

// Answers "\boxed{<gold>}" for even sample indices and "\boxed{-1}" for odd ones; can fail chosen samples.
class ScriptedBackend : public Backend {
 public:
  explicit ScriptedBackend(std::map<std::string, std::string> gold) : gold_(std::move(gold)) {}
  BackendInfo info() const override { return {"fake", "fake-model", "hash123", "fake 1.0", "none", ""}; }
  int max_concurrency() const override { return 4; }
  std::vector<Completion> generate(const GenerationRequest& req,
                                   const std::function<void(const Completion&)>& on_sample) override {
    if (before_generate) before_generate(req.problem_id);
    std::vector<Completion> out;
    for (int i : req.sample_indices) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        calls_[req.problem_id].push_back(i);
      }
      Completion c;
      c.sample_index = i;
      c.seed = sample_seed(req.sampling.seed, req.task, req.problem_id, i);
      if (fail_.load() && i == 1) {
        c.finish = FinishReason::error;
        c.error = "connection reset";
      } else {
        c.text = "<think>\nwork\n</think>\nSo \\boxed{" + (i % 2 == 0 ? gold_.at(req.problem_id) : "-1") + "}";
        c.completion_tokens = 7;
      }
      if (on_sample) on_sample(c);
      out.push_back(c);
      if (stop_after_ > 0 && ++produced_ >= stop_after_ && stop_) stop_->store(true);
    }
    return out;
  }
  std::map<std::string, std::vector<int>> calls() {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }
  std::atomic<bool> fail_{false};
  std::function<void(const std::string&)> before_generate;  // called first in generate() (may block)
  int stop_after_ = 0;
  std::atomic<bool>* stop_ = nullptr;

 private:
  std::map<std::string, std::string> gold_;
  std::mutex mu_;
  std::map<std::string, std::vector<int>> calls_;
  std::atomic<int> produced_{0};
};

EvalPlan make_plan(int problems, int k) {
  EvalPlan plan;
  plan.run.name = "fake-run";
  plan.run.model = "fake-model";
  plan.run.backend = "fake";
  plan.run.config = {{"sampling", to_json(SamplingParams{})}};
  TaskPlan tp;
  tp.info = TaskInfo{"math500", "test", AnswerKind::math, "math", k};
  tp.samples = k;
  for (int i = 0; i < problems; ++i) {
    Problem p;
    p.task = "math500";
    p.id = "p" + std::to_string(i);
    p.prompt = "What is " + std::to_string(i) + "+1?";
    p.gold = {std::to_string(i + 1)};
    tp.problems.push_back(p);
  }
  plan.tasks.push_back(tp);
  plan.concurrency = 3;
  plan.grading_threads = 2;
  plan.progress = false;
  return plan;
}

std::map<std::string, std::string> golds(int problems) {
  std::map<std::string, std::string> g;
  for (int i = 0; i < problems; ++i) g["p" + std::to_string(i)] = std::to_string(i + 1);
  return g;
}

}  // namespace

TEST(Eval, StoresAndGradesEverySample) {
  test::TempDir dir;
  auto store = open_sqlite_store(dir.file("r.db"));
  ScriptedBackend backend(golds(5));
  EvalStats stats = execute_eval(make_plan(5, 4), *store, backend);
  EXPECT_EQ(stats.expected, 20);
  EXPECT_EQ(stats.generated, 20);
  EXPECT_EQ(stats.already_stored, 0);
  EXPECT_EQ(stats.graded, 20);
  auto samples = store->samples(stats.run_id);
  ASSERT_EQ(samples.size(), 20u);
  auto grades = store->grades(stats.run_id);
  ASSERT_EQ(grades.size(), 20u);
  int correct = 0;
  for (const auto& g : grades) {
    bool even = g.key.sample_index % 2 == 0;
    EXPECT_EQ(g.result.verdict, even ? Verdict::correct : Verdict::wrong) << g.key.problem_id << "/" << g.key.sample_index;
    correct += g.result.verdict == Verdict::correct;
    EXPECT_EQ(g.grader, "math");
  }
  EXPECT_EQ(correct, 10);
  for (const auto& s : samples) EXPECT_EQ(s.seed, sample_seed(0, "math500", s.key.problem_id, s.key.sample_index));
  auto run = store->run_by_id(stats.run_id);
  ASSERT_TRUE(run.has_value());
  EXPECT_EQ(run->model_hash, "");  // plan_eval fills provenance; a hand-made plan has none
}

TEST(Eval, ResumeGeneratesOnlyMissingAndRetriesFailures) {
  test::TempDir dir;
  auto store = open_sqlite_store(dir.file("r.db"));
  ScriptedBackend first(golds(4));
  first.fail_ = true;  // sample 1 of every problem fails
  EvalStats s1 = execute_eval(make_plan(4, 3), *store, first);
  EXPECT_EQ(s1.generated, 12);
  EXPECT_EQ(s1.generation_errors, 4);
  int infra = 0;
  for (const auto& g : store->grades(s1.run_id)) infra += g.result.verdict == Verdict::infra_error;
  EXPECT_EQ(infra, 4);

  ScriptedBackend second(golds(4));
  EvalStats s2 = execute_eval(make_plan(4, 3), *store, second);
  EXPECT_EQ(s2.run_id, s1.run_id);
  EXPECT_EQ(s2.already_stored, 8);
  EXPECT_EQ(s2.generated, 4);
  for (const auto& [pid, idx] : second.calls()) EXPECT_EQ(idx, std::vector<int>{1}) << pid;
  EXPECT_EQ(store->samples(s1.run_id).size(), 12u);  // replaced, not duplicated
  for (const auto& g : store->grades(s1.run_id)) EXPECT_NE(g.result.verdict, Verdict::infra_error);

  // A third run finds nothing to do; growing k generates only the new indices.
  ScriptedBackend third(golds(4));
  EXPECT_EQ(execute_eval(make_plan(4, 3), *store, third).generated, 0);
  EvalStats s4 = execute_eval(make_plan(4, 5), *store, third);
  EXPECT_EQ(s4.generated, 8);
  EXPECT_EQ(store->samples(s1.run_id).size(), 20u);
}

TEST(Eval, StopRequestKeepsWhatWasGenerated) {
  test::TempDir dir;
  auto store = open_sqlite_store(dir.file("r.db"));
  std::atomic<bool> stop{false};
  ScriptedBackend backend(golds(30));
  backend.stop_after_ = 5;
  backend.stop_ = &stop;
  EvalPlan plan = make_plan(30, 1);
  plan.concurrency = 1;
  EvalStats s = execute_eval(plan, *store, backend, &stop);
  EXPECT_TRUE(s.interrupted);
  EXPECT_GE(s.generated, 5);
  EXPECT_LT(s.generated, 30);
  EXPECT_EQ(static_cast<std::int64_t>(store->samples(s.run_id).size()), s.generated);
  stop = false;
  ScriptedBackend again(golds(30));
  EvalStats s2 = execute_eval(plan, *store, again, &stop);
  EXPECT_EQ(s2.generated + s.generated, 30);
  EXPECT_EQ(store->samples(s.run_id).size(), 30u);
}

TEST(Eval, RefusesToResumeWithDifferentSampling) {
  test::TempDir dir;
  auto store = open_sqlite_store(dir.file("r.db"));
  ScriptedBackend backend(golds(2));
  execute_eval(make_plan(2, 1), *store, backend);
  EvalPlan other = make_plan(2, 1);
  SamplingParams hot;
  hot.temperature = 1.0;
  other.run.config["sampling"] = to_json(hot);
  try {
    execute_eval(other, *store, backend);
    FAIL() << "expected an error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("--run-name"), std::string::npos) << e.what();
  }
}

TEST(Eval, ResumeGradesSamplesStoredWithoutAGrade) {
  test::TempDir dir;
  auto store = open_sqlite_store(dir.file("r.db"));
  EvalPlan plan = make_plan(2, 2);
  RunInfo run = store->create_or_open_run(plan.run);
  // A crash between storing a sample and storing its grade leaves this behind.
  SampleRecord s;
  s.run_id = run.id;
  s.key = SampleKey{"math500", "p1", 0};
  s.completion = "\\boxed{2}";
  s.finish_reason = "stop";
  store->add_sample(s);
  store->flush();
  ScriptedBackend backend(golds(2));
  EvalStats stats = execute_eval(plan, *store, backend);
  EXPECT_EQ(stats.already_stored, 1);
  EXPECT_EQ(stats.generated, 3);
  EXPECT_EQ(stats.graded, 4);  // the 3 new samples and the one stored without a grade
  auto grades = store->grades(run.id);
  ASSERT_EQ(grades.size(), 4u);
  for (const auto& g : grades) {
    if (g.key == s.key) {
      EXPECT_EQ(g.result.verdict, Verdict::correct);
    }
  }
}

TEST(Eval, DiskFullStopsCleanlyAndResumeLosesNothing) {
  test::FaultVfs::install();
  test::TempDir dir;
  const std::string db = dir.file("full.db");
  StoreOptions o;
  o.vfs = test::FaultVfs::kName;
  o.batch_rows = 1;  // small transactions, so the disk fills in the middle of the run
  std::int64_t first_run_samples = 0;
  {
    auto store = open_sqlite_store(db, o);
    EvalPlan plan = make_plan(30, 4);
    RunInfo run = store->create_or_open_run(plan.run);  // schema and run exist; now the disk fills up
    test::FaultVfs::set_budget(40 * 1024);
    ScriptedBackend backend(golds(30));
    // From the 8th problem on, generation waits until the disk has filled (whatever the machine's speed) and then
    // takes 200 ms a problem, so the run has time to notice the failure and must stop requesting more.
    std::atomic<int> started{0};
    backend.before_generate = [&](const std::string&) {
      if (++started < 8) return;
      for (int i = 0; i < 2000 && test::FaultVfs::failures() == 0; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    };
    try {
      execute_eval(plan, *store, backend);
      ADD_FAILURE() << "a full disk went unnoticed";
    } catch (const Error& e) {
      std::string msg = e.what();
      EXPECT_NE(msg.find(db), std::string::npos) << msg;            // names the database
      EXPECT_NE(msg.find("full"), std::string::npos) << msg;        // and the cause
      EXPECT_NE(msg.find("resume"), std::string::npos) << msg;      // and what to do
    }
    EXPECT_GT(test::FaultVfs::failures(), 0);
    EXPECT_LT(backend.calls().size(), 20u);  // stopped long before the 30th problem
    test::FaultVfs::set_budget(-1);
    first_run_samples = static_cast<std::int64_t>(store->samples(run.id).size());
  }
  EXPECT_LT(first_run_samples, 120);
  // Space is back: the same run resumes and ends with every sample exactly once, every one graded.
  auto store = open_sqlite_store(db, o);
  ScriptedBackend again(golds(30));
  EvalStats s = execute_eval(make_plan(30, 4), *store, again);
  EXPECT_EQ(s.already_stored, first_run_samples);
  EXPECT_EQ(s.already_stored + s.generated, 120);
  auto samples = store->samples(s.run_id);
  EXPECT_EQ(samples.size(), 120u);
  auto grades = store->grades(s.run_id);
  EXPECT_EQ(grades.size(), 120u);
  for (const auto& g : grades) {
    bool even = g.key.sample_index % 2 == 0;
    EXPECT_EQ(g.result.verdict, even ? Verdict::correct : Verdict::wrong);
  }
  EXPECT_TRUE(store->check().ok());
}

TEST(Eval, SecondEvaluatorOfARunIsRefused) {
  test::TempDir dir;
  auto store = open_sqlite_store(dir.file("r.db"));
  EvalPlan plan = make_plan(2, 2);
  RunInfo run = store->create_or_open_run(plan.run);
  auto held = store->lease_run(run.id, LeaseOptions{"eval"});
  ScriptedBackend backend(golds(2));
  try {
    execute_eval(plan, *store, backend);
    ADD_FAILURE() << "two evaluators on one run";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("already being used by `reval eval`"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(backend.calls().empty());
  held.reset();  // released: the run is free again
  EXPECT_EQ(execute_eval(plan, *store, backend).generated, 4);
}
