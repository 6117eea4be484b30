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
#include "graders/grader.hpp"
#include "harness/eval.hpp"
#include "harness/progress.hpp"
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
    {
      std::lock_guard<std::mutex> lock(mu_);
      requests_.push_back(req);
    }
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
  std::vector<GenerationRequest> requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }
  std::atomic<bool> fail_{false};
  std::function<void(const std::string&)> before_generate;  // called first in generate() (may block)
  int stop_after_ = 0;
  std::atomic<bool>* stop_ = nullptr;

 private:
  std::map<std::string, std::string> gold_;
  std::mutex mu_;
  std::map<std::string, std::vector<int>> calls_;
  std::vector<GenerationRequest> requests_;
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

namespace {

// The config plan_eval would write for a hand-made plan's tasks.
void describe_tasks(EvalPlan& plan) {
  nlohmann::json tasks = nlohmann::json::array();
  for (const auto& tp : plan.tasks)
    tasks.push_back({{"task", tp.info.name}, {"samples", tp.samples}, {"problems", tp.problems.size()},
                     {"grader", tp.info.grader}, {"filters", nlohmann::json::object()}});
  plan.run.config["tasks"] = tasks;
}

// A grader that holds each sample until a stop is requested (so grading is still queued when the run stops).
class HeldGrader : public Grader {
 public:
  explicit HeldGrader(const std::atomic<bool>* release) : release_(release) {}
  std::string_view name() const override { return "math"; }
  std::string_view version() const override { return "held"; }
  GradeResult grade(const GradeRequest&) const override {
    ++started;
    for (int i = 0; i < 6000 && !release_->load(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    GradeResult r;
    r.verdict = Verdict::correct;
    r.score = 1;
    return r;
  }
  mutable std::atomic<int> started{0};

 private:
  const std::atomic<bool>* release_;
};

}  // namespace

TEST(Eval, SystemPromptAndStopStringsReachTheBackend) {
  test::TempDir dir;
  auto store = open_sqlite_store(dir.file("r.db"));
  ScriptedBackend backend(golds(2));
  EvalPlan plan = make_plan(2, 1);
  plan.system_prompt = "Answer tersely.";
  plan.sampling.stop = {"</answer>", "\n\nQ:"};
  execute_eval(plan, *store, backend);
  auto requests = backend.requests();
  ASSERT_EQ(requests.size(), 2u);
  for (const auto& r : requests) {
    ASSERT_EQ(r.messages.size(), 2u);
    EXPECT_EQ(r.messages[0].role, "system");
    EXPECT_EQ(r.messages[0].content, "Answer tersely.");
    EXPECT_EQ(r.messages[1].role, "user");
    EXPECT_EQ(r.sampling.stop, (std::vector<std::string>{"</answer>", "\n\nQ:"}));
  }
  // Without one (the R1 protocol), the prompt is the only message.
  test::TempDir dir2;
  auto store2 = open_sqlite_store(dir2.file("r.db"));
  ScriptedBackend plain(golds(2));
  execute_eval(make_plan(2, 1), *store2, plain);
  for (const auto& r : plain.requests()) {
    ASSERT_EQ(r.messages.size(), 1u);
    EXPECT_EQ(r.messages[0].role, "user");
  }
}

TEST(Eval, ExtendedRunUpdatesItsStoredConfig) {
  test::TempDir dir;
  auto store = open_sqlite_store(dir.file("r.db"));
  ScriptedBackend backend(golds(3));
  EvalPlan first = make_plan(3, 2);
  describe_tasks(first);
  EvalStats s1 = execute_eval(first, *store, backend);
  EXPECT_EQ(store->run_by_id(s1.run_id)->config["tasks"][0]["samples"], 2);

  // Larger k and a second task: the stored configuration says what the run now holds.
  EvalPlan second = make_plan(3, 4);
  TaskPlan gsm;
  gsm.info = TaskInfo{"gsm8k", "test", AnswerKind::math, "math", 1};
  gsm.samples = 1;
  Problem p;
  p.task = "gsm8k";
  p.id = "p0";
  p.prompt = "1+0?";
  p.gold = {"1"};
  gsm.problems.push_back(p);
  second.tasks.push_back(gsm);
  describe_tasks(second);
  EvalStats s2 = execute_eval(second, *store, backend);
  EXPECT_EQ(s2.run_id, s1.run_id);
  EXPECT_EQ(s2.generated, 3 * 2 + 1);
  auto config = store->run_by_id(s1.run_id)->config;
  ASSERT_EQ(config["tasks"].size(), 2u) << config.dump();
  EXPECT_EQ(config["tasks"][0]["task"], "math500");
  EXPECT_EQ(config["tasks"][0]["samples"], 4);
  EXPECT_EQ(config["tasks"][1]["task"], "gsm8k");
  EXPECT_EQ(config["tasks"][1]["problems"], 1);

  // A resume with a smaller k keeps the larger one; one with another system prompt is refused.
  EvalPlan smaller = make_plan(3, 1);
  describe_tasks(smaller);
  execute_eval(smaller, *store, backend);
  EXPECT_EQ(store->run_by_id(s1.run_id)->config["tasks"][0]["samples"], 4);
  EvalPlan other = make_plan(3, 4);
  describe_tasks(other);
  other.run.config["system_prompt"] = "Be brief.";
  try {
    execute_eval(other, *store, backend);
    ADD_FAILURE() << "resumed with another system prompt";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("system_prompt"), std::string::npos) << e.what();
  }
}

TEST(Eval, StopDropsQueuedGradingAndSaysWhatIsLeft) {
  test::TempDir dir;
  auto store = open_sqlite_store(dir.file("r.db"));
  std::atomic<bool> stop{false};
  ScriptedBackend backend(golds(10));
  backend.stop_after_ = 20;  // the stop comes once every sample is generated, while grading is still held
  backend.stop_ = &stop;
  EvalPlan plan = make_plan(10, 2);
  plan.grading_threads = 2;
  auto graders = std::make_shared<GraderSet>();
  auto held = std::make_unique<HeldGrader>(&stop);
  HeldGrader* held_ptr = held.get();
  graders->add("math", std::move(held));
  plan.graders = graders;
  EvalStats s = execute_eval(plan, *store, backend, &stop);
  EXPECT_TRUE(s.interrupted);
  EXPECT_EQ(s.generated, 20);
  EXPECT_EQ(s.stored, 20);
  // Only the jobs already running when the stop came finished (at most one per grading thread).
  EXPECT_LE(held_ptr->started.load(), 2);
  EXPECT_LE(s.graded, 2);
  EXPECT_EQ(s.stored_graded, s.graded);
  EXPECT_EQ(s.left_to_grade, 20 - s.graded);
  EXPECT_EQ(static_cast<std::int64_t>(store->grades(s.run_id).size()), s.graded);

  // The resume grades what was left and generates nothing.
  stop = false;
  ScriptedBackend again(golds(10));
  EvalPlan resume = make_plan(10, 2);
  EvalStats r = execute_eval(resume, *store, again, &stop);
  EXPECT_EQ(r.generated, 0);
  EXPECT_EQ(r.graded, 20 - s.graded);
  EXPECT_EQ(r.left_to_grade, 0);
  EXPECT_EQ(store->grades(s.run_id).size(), 20u);
}

TEST(Progress, CountsGradingAndEstimatesFromThisSessionOnly) {
  Progress p("[t]", 100, /*enabled=*/false);
  p.track_grading();
  p.set_initial(40, 30);  // a resumed run: 40 generated, 30 graded before this session
  EXPECT_EQ(p.status_line_at(10), "generated 40/100 40% | graded 30/100 | 10s elapsed");
  p.add(10, 500);
  p.add_graded(5);
  // 10 samples in 10 s: 50 left -> 50 s; grading 5 in 10 s: 65 left -> 130 s; the later one is the ETA.
  EXPECT_EQ(p.status_line_at(10), "generated 50/100 50% | graded 35/100 | 1.00 samples/s | 50 tok/s | ETA 2m10s | "
                                  "10s elapsed");
  p.add(50);
  p.add_graded(65);
  EXPECT_EQ(p.status_line_at(20), "generated 100/100 100% | graded 100/100 | 3.00 samples/s | 25 tok/s | 20s elapsed");
  Progress plain("[r]", 10, false);
  plain.add(5);
  EXPECT_EQ(plain.status_line_at(5), "5/10 50% | 1.00 samples/s | ETA 5s | 5s elapsed");
}

// plan_eval on the shared data: what a run records and which problems a shard holds.
namespace {
EvalOptions shared_options() {
  EvalOptions o;
  o.model = "m";
  o.tasks = {"math500"};
  o.limit = 10;
  o.samples = 2;
  o.data_dir = test::shared_path("data");
  o.progress = false;
  return o;
}
BackendInfo info(const std::string& backend) { return {backend, "m", "", "v", "d", "tmpl"}; }
}  // namespace

TEST(PlanEval, ReplayRecordsNoSamplingItDidNotUse) {
  EvalOptions o = shared_options();
  o.temperature = 0.3;
  o.stop = std::vector<std::string>{"</s>"};
  o.system_prompt = "x";
  EvalPlan replay = plan_eval(o, info("replay"), 1);
  EXPECT_FALSE(replay.run.config.contains("sampling")) << replay.run.config.dump();
  EXPECT_FALSE(replay.run.config.contains("system_prompt"));
  EXPECT_FALSE(replay.run.config.contains("chat_template_id"));
  EXPECT_FALSE(replay.system_prompt.has_value());
  // A generating backend records what it will use.
  EvalPlan gen = plan_eval(o, info("openai"), 1);
  EXPECT_EQ(gen.run.config["sampling"]["temperature"], 0.3);
  EXPECT_EQ(gen.run.config["sampling"]["stop"], (nlohmann::json{"</s>"}));
  EXPECT_EQ(gen.run.config["system_prompt"], "x");
  EXPECT_EQ(gen.run.config["chat_template_id"], "tmpl");
  ASSERT_TRUE(gen.system_prompt.has_value());
  EXPECT_EQ(*gen.system_prompt, "x");
  o.system_prompt = "";  // "" turns a preset's system prompt off
  EXPECT_TRUE(plan_eval(o, info("openai"), 1).run.config["system_prompt"].is_null());
  o.stop = std::vector<std::string>{""};
  EXPECT_THROW(plan_eval(o, info("openai"), 1), Error);
}

TEST(PlanEval, ShardsSplitTheProblemsAfterLimit) {
  EvalOptions o = shared_options();
  EvalPlan whole = plan_eval(o, info("openai"), 1);
  ASSERT_EQ(whole.tasks[0].problems.size(), 10u);
  std::map<std::string, int> seen;
  for (int i = 1; i <= 4; ++i) {
    o.shard = parse_shard(std::to_string(i) + "/4");
    EvalPlan part = plan_eval(o, info("openai"), 1);
    EXPECT_EQ(part.run.name, whole.run.name) << "shards are one run";
    EXPECT_EQ(part.run.config["shard"], (nlohmann::json{{"count", 4}, {"indices", {i}}}));
    EXPECT_EQ(part.run.config["tasks"][0]["problems"], part.tasks[0].problems.size());
    for (const auto& p : part.tasks[0].problems) ++seen[p.id];
    // The same shard on another machine (another load) is the same problems.
    EvalPlan again = plan_eval(o, info("openai"), 1);
    ASSERT_EQ(again.tasks[0].problems.size(), part.tasks[0].problems.size());
    for (size_t k = 0; k < part.tasks[0].problems.size(); ++k)
      EXPECT_EQ(again.tasks[0].problems[k].id, part.tasks[0].problems[k].id);
  }
  ASSERT_EQ(seen.size(), 10u);
  for (const auto& p : whole.tasks[0].problems) EXPECT_EQ(seen[p.id], 1) << p.id;
  // A longer --limit keeps every problem in its shard.
  o.shard = parse_shard("2/4");
  EvalPlan short_limit = plan_eval(o, info("openai"), 1);
  o.limit = 20;
  EvalPlan long_limit = plan_eval(o, info("openai"), 1);
  for (const auto& p : short_limit.tasks[0].problems) {
    bool kept = false;
    for (const auto& q : long_limit.tasks[0].problems) kept = kept || q.id == p.id;
    EXPECT_TRUE(kept) << p.id;
  }
}

TEST(PlanEval, FiltersOnEval) {
  EvalOptions o;
  o.model = "m";
  o.tasks = {"livecodebench"};
  o.data_dir = std::string(REVAL_SOURCE_DIR) + "/tests/tasks/data";
  o.accept_data_release = true;
  o.progress = false;
  size_t all = plan_eval(o, info("openai"), 1).tasks[0].problems.size();
  o.filters = {{"platform", "leetcode"}};
  EvalPlan leet = plan_eval(o, info("openai"), 1);
  ASSERT_FALSE(leet.tasks[0].problems.empty());
  EXPECT_LT(leet.tasks[0].problems.size(), all);
  for (const auto& p : leet.tasks[0].problems) EXPECT_EQ(p.metadata["platform"], "leetcode") << p.id;
  EXPECT_EQ(leet.run.config["tasks"][0]["filters"], o.filters);
  // The per-task form gives the same problems.
  o.filters = {{"livecodebench", {{"platform", "leetcode"}}}};
  EXPECT_EQ(plan_eval(o, info("openai"), 1).tasks[0].problems.size(), leet.tasks[0].problems.size());
  // A filter object with several tasks selected is ambiguous; a task not selected is an error.
  o.tasks = {"livecodebench", "math500"};
  o.filters = {{"platform", "leetcode"}};
  try {
    plan_eval(o, info("openai"), 1);
    ADD_FAILURE() << "ambiguous --filters accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("per task"), std::string::npos) << e.what();
  }
  // An empty object names no task: nothing is filtered, whatever is selected.
  o.tasks = {"livecodebench", "codeforces"};
  o.filters = nlohmann::json::object();
  EvalPlan none = plan_eval(o, info("openai"), 1);
  ASSERT_EQ(none.tasks.size(), 2u);
  EXPECT_EQ(none.tasks[0].problems.size(), all);
  o.tasks = {"livecodebench"};
  o.filters = {{"codeforces", {{"rating_min", 800}}}};
  EXPECT_THROW(plan_eval(o, info("openai"), 1), Error);
  o.filters = nlohmann::json::array();
  EXPECT_THROW(plan_eval(o, info("openai"), 1), Error);
}
