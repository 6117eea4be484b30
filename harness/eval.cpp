// See eval.hpp for the theory of operation.
#include "harness/eval.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <deque>
#include <filesystem>
#include <functional>
#include <thread>

#include <fmt/format.h>

#include "harness/progress.hpp"
#include "harness/runtime.hpp"
#include "base/error.hpp"
#include "base/jsonl.hpp"
#include "results/report.hpp"
#include "tasks/preset.hpp"
#include "reval/version.hpp"

namespace reval {

namespace {

// A fixed pool of threads draining a queue of jobs; wait() returns when every submitted job has run.
class JobPool {
 public:
  explicit JobPool(int threads) {
    for (int i = 0; i < std::max(1, threads); ++i) workers_.emplace_back([this] { loop(); });
  }
  ~JobPool() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      closing_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
  }
  void submit(std::function<void()> job) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      jobs_.push_back(std::move(job));
      ++pending_;
    }
    cv_.notify_one();
  }
  void wait() {
    std::unique_lock<std::mutex> lock(mu_);
    idle_.wait(lock, [this] { return pending_ == 0; });
  }

 private:
  void loop() {
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return closing_ || !jobs_.empty(); });
        if (jobs_.empty()) return;
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      job();
      std::lock_guard<std::mutex> lock(mu_);
      if (--pending_ == 0) idle_.notify_all();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_, idle_;
  std::deque<std::function<void()>> jobs_;
  std::vector<std::thread> workers_;
  std::int64_t pending_ = 0;
  bool closing_ = false;
};

int hardware_threads() { return static_cast<int>(std::max(1u, std::thread::hardware_concurrency())); }

std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "";
  return buf;
}

ProblemRecord to_record(std::int64_t run_id, const Problem& p) {
  ProblemRecord r;
  r.run_id = run_id;
  r.task = p.task;
  r.problem_id = p.id;
  r.prompt = p.prompt;
  r.gold = p.gold;
  r.grading = p.grading;
  r.metadata = p.metadata;
  return r;
}

// Fields of a stored run that must match for a resume to be meaningful.
void check_resumable(const RunInfo& stored, const RunInfo& wanted) {
  auto mismatch = [&](const std::string& what, const nlohmann::json& a, const nlohmann::json& b) {
    throw Error(fmt::format(
        "run '{}' already exists with a different {} (stored {}, requested {}); pass --run-name to start a new run",
        stored.name, what, a.dump(), b.dump()));
  };
  if (stored.model != wanted.model) mismatch("model", stored.model, wanted.model);
  if (stored.backend != wanted.backend) mismatch("backend", stored.backend, wanted.backend);
  const auto& s = stored.config;
  const auto& w = wanted.config;
  if (s.contains("sampling") && w.contains("sampling") && s["sampling"] != w["sampling"])
    mismatch("sampling configuration", s["sampling"], w["sampling"]);
}

}  // namespace

const Grader& GraderSet::get(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = graders_.find(name);
  if (it == graders_.end()) it = graders_.emplace(name, make_grader(name, options_)).first;
  return *it->second;
}

GradeResult grade_sample(const Grader& grader, const ProblemRecord& problem, const SampleRecord& sample) {
  GradeResult result;
  if (!sample.error.empty()) {
    result.verdict = Verdict::infra_error;
    result.details = {{"error", sample.error}, {"stage", "generation"}};
    return result;
  }
  GradeRequest request;
  request.response = sample.completion;
  if (problem.gold.is_array()) {
    for (const auto& g : problem.gold) request.gold.push_back(g.is_string() ? g.get<std::string>() : g.dump());
  } else if (problem.gold.is_string()) {
    request.gold.push_back(problem.gold.get<std::string>());
  }
  request.fields = problem.grading.is_object() ? problem.grading : nlohmann::json::object();
  request.fields["finish_reason"] = sample.finish_reason;
  try {
    result = grader.grade(request);
  } catch (const std::exception& e) {
    result = GradeResult{};
    result.verdict = Verdict::infra_error;
    result.details = {{"error", e.what()}, {"stage", "grading"}};
  }
  return result;
}

EvalPlan plan_eval(const EvalOptions& options, const BackendInfo& backend, int backend_concurrency) {
  EvalPlan plan;
  std::vector<std::pair<std::string, int>> wanted;  // task, k (0 = default)
  nlohmann::json filters_by_task = nlohmann::json::object();
  std::string preset_id;
  if (!options.suite.empty()) {
    Preset preset = load_preset(options.suite);
    preset_id = preset.label();
    plan.sampling.temperature = preset.temperature;
    plan.sampling.top_p = preset.top_p;
    plan.sampling.max_new_tokens = preset.max_new_tokens;
    plan.sampling.seed = preset.seed;
    for (const auto& t : preset.tasks) {
      if (!options.tasks.empty() &&
          std::find(options.tasks.begin(), options.tasks.end(), t.task) == options.tasks.end())
        continue;
      wanted.emplace_back(t.task, t.k);
      filters_by_task[t.task] = t.filters;
    }
  } else {
    for (const auto& t : options.tasks) wanted.emplace_back(t, 0);
  }
  if (wanted.empty()) throw Error("no tasks selected: pass --tasks a,b or --suite NAME");
  if (options.temperature) plan.sampling.temperature = *options.temperature;
  if (options.top_p) plan.sampling.top_p = *options.top_p;
  if (options.min_p) plan.sampling.min_p = *options.min_p;
  if (options.top_k) plan.sampling.top_k = *options.top_k;
  if (options.max_new_tokens) plan.sampling.max_new_tokens = *options.max_new_tokens;
  if (options.seed) plan.sampling.seed = *options.seed;

  LoadOptions load;
  load.data_dir = resolve_data_dir(options.data_dir);
  load.seed = plan.sampling.seed;
  if (!options.prompt_template.empty()) load.prompt_template = options.prompt_template;
  nlohmann::json task_config = nlohmann::json::array();
  for (const auto& [name, preset_k] : wanted) {
    TaskPlan tp;
    tp.info = task_info(name);
    tp.samples = options.samples > 0 ? options.samples : (preset_k > 0 ? preset_k : tp.info.default_samples);
    load.filters = filters_by_task.contains(name) ? filters_by_task[name] : nlohmann::json::object();
    tp.problems = load_task(name, load);
    if (options.limit > 0 && static_cast<int>(tp.problems.size()) > options.limit)
      tp.problems.resize(static_cast<size_t>(options.limit));
    task_config.push_back({{"task", name}, {"samples", tp.samples}, {"problems", tp.problems.size()},
                           {"grader", tp.info.grader}, {"filters", load.filters}});
    plan.tasks.push_back(std::move(tp));
  }

  RunInfo& run = plan.run;
  run.model = options.model;
  run.backend = backend.backend;
  run.model_hash = backend.model_hash;
  run.engine_version = backend.engine_version;
  run.device = backend.device;
  run.host = host_name();
  run.reval_version = kVersion;
  run.preset = preset_id;
  run.name = options.run_name;
  if (run.name.empty()) {
    std::string base = std::filesystem::path(options.model).filename().string();
    if (base.empty()) base = std::filesystem::path(options.model).parent_path().filename().string();
    run.name = (base.empty() ? std::string("model") : base) + "-" + backend.backend;
  }
  run.config = {{"tasks", task_config},
                {"sampling", to_json(plan.sampling)},
                {"data_dir", load.data_dir},
                {"prompt_template", options.prompt_template},
                {"chat_template", options.chat_template},
                {"chat_template_id", backend.chat_template_id},
                {"limit", options.limit}};
  plan.concurrency = options.concurrency > 0 ? options.concurrency : std::max(1, backend_concurrency);
  plan.grading_threads = options.grading_threads > 0 ? options.grading_threads : hardware_threads();
  plan.progress = options.progress;
  return plan;
}

EvalStats execute_eval(const EvalPlan& plan, SampleStore& store, Backend& backend, const std::atomic<bool>* stop) {
  EvalStats stats;
  RunInfo run = plan.run;
  if (auto existing = store.find_run(run.name)) check_resumable(*existing, run);
  run = store.create_or_open_run(run);
  stats.run_id = run.id;

  // Problems (idempotent) and what is already there.
  std::vector<ProblemRecord> records;
  for (const auto& tp : plan.tasks)
    for (const auto& p : tp.problems) records.push_back(to_record(run.id, p));
  store.put_problems(records);
  std::set<SampleKey> have = store.sample_keys(run.id);

  struct Job {
    const TaskPlan* task;
    const Problem* problem;
    const ProblemRecord* record;
    std::vector<int> missing;
  };
  std::vector<Job> jobs;
  size_t rec_index = 0;
  for (const auto& tp : plan.tasks) {
    for (const auto& p : tp.problems) {
      Job job{&tp, &p, &records[rec_index++], {}};
      for (int i = 0; i < tp.samples; ++i) {
        ++stats.expected;
        if (have.count(SampleKey{tp.info.name, p.id, i})) ++stats.already_stored;
        else job.missing.push_back(i);
      }
      if (!job.missing.empty()) jobs.push_back(std::move(job));
    }
  }

  // Samples stored by an earlier, interrupted run may lack grades: grade those first. The summaries carry no
  // completion text, so completions are read only when something is actually ungraded.
  GraderSet graders;
  std::atomic<std::int64_t> graded{0}, generated{0}, gen_errors{0};
  std::set<SampleKey> ungraded;
  for (const auto& s : store.sample_summaries(run.id))
    if (!s.grade && s.error.empty()) ungraded.insert(s.key);
  if (!ungraded.empty()) {
    std::map<std::pair<std::string, std::string>, const ProblemRecord*> by_id;
    for (const auto& r : records) by_id[{r.task, r.problem_id}] = &r;
    std::map<std::string, std::string> grader_of;
    for (const auto& tp : plan.tasks) grader_of[tp.info.name] = tp.info.grader;
    JobPool pool(plan.grading_threads);
    for (const auto& s : store.samples(run.id)) {
      auto p = by_id.find({s.key.task, s.key.problem_id});
      if (!ungraded.count(s.key) || p == by_id.end()) continue;
      pool.submit([&, s, problem = p->second, grader_name = grader_of[s.key.task]] {
        const Grader& g = graders.get(grader_name);
        GradeRecord gr{run.id, s.key, std::string(g.name()), std::string(g.version()), grade_sample(g, *problem, s), ""};
        store.add_grade(gr);
        ++graded;
      });
    }
    pool.wait();
  }

  if (plan.progress) {
    // Every run logs its effective configuration and provenance before generating.
    nlohmann::json shown = {{"run", run.name}, {"id", run.id}, {"model", run.model}, {"model_hash", run.model_hash},
                            {"backend", run.backend}, {"engine", run.engine_version}, {"device", run.device},
                            {"preset", run.preset}, {"config", run.config}};
    std::fprintf(stderr, "reval: %s\n", shown.dump().c_str());
    std::fprintf(stderr, "reval: %lld samples expected, %lld already stored, %zu problems to generate for\n",
                 static_cast<long long>(stats.expected), static_cast<long long>(stats.already_stored), jobs.size());
  }
  Progress progress(fmt::format("[{}]", run.name), stats.expected, plan.progress);
  progress.add(stats.already_stored);
  {
    JobPool grading(plan.grading_threads);
    std::atomic<size_t> next{0};
    auto worker = [&] {
      for (;;) {
        if (stop && stop->load()) return;
        size_t idx = next++;
        if (idx >= jobs.size()) return;
        const Job& job = jobs[idx];
        GenerationRequest req;
        req.task = job.task->info.name;
        req.problem_id = job.problem->id;
        req.messages = {ChatMessage{"user", job.problem->prompt}};
        req.sample_indices = job.missing;
        req.sampling = plan.sampling;
        req.cancel = stop;  // an interrupt also ends in-flight samples (they are not stored; a resume makes them)
        std::mutex seen_mu;
        std::set<int> seen;
        auto on_sample = [&](const Completion& c) {
          {
            std::lock_guard<std::mutex> lock(seen_mu);
            if (!seen.insert(c.sample_index).second) return;
          }
          SampleRecord s;
          s.run_id = run.id;
          s.key = SampleKey{req.task, req.problem_id, c.sample_index};
          s.completion = sanitize_utf8(c.text);
          s.prompt_tokens = c.prompt_tokens;
          s.completion_tokens = c.completion_tokens;
          s.finish_reason = c.error.empty() ? to_string(c.finish) : "error";
          s.latency_s = c.latency_s;
          s.seed = c.seed;
          s.error = c.error;
          store.add_sample(s);
          ++generated;
          if (!c.error.empty()) ++gen_errors;
          progress.add(1, c.completion_tokens);
          grading.submit([&, s, record = job.record, grader_name = job.task->info.grader] {
            const Grader& g = graders.get(grader_name);
            GradeRecord gr{run.id, s.key, std::string(g.name()), std::string(g.version()),
                           grade_sample(g, *record, s), ""};
            store.add_grade(gr);
            ++graded;
          });
        };
        std::vector<Completion> out;
        try {
          out = backend.generate(req, on_sample);
        } catch (const std::exception& e) {
          // A backend that throws mid-run is an infra failure of these samples, not of the whole run.
          for (int i : req.sample_indices) {
            Completion c;
            c.sample_index = i;
            c.finish = FinishReason::error;
            c.error = std::string("backend error: ") + e.what();
            out.push_back(c);
          }
        }
        for (const auto& c : out) on_sample(c);  // backends that don't stream; duplicates are ignored
      }
    };
    std::vector<std::thread> workers;
    int n = std::min<int>(plan.concurrency, static_cast<int>(std::max<size_t>(1, jobs.size())));
    for (int i = 0; i < n; ++i) workers.emplace_back(worker);
    for (auto& t : workers) t.join();
    grading.wait();
  }
  store.flush();
  progress.finish();
  stats.generated = generated.load();
  stats.generation_errors = gen_errors.load();
  stats.graded = graded.load();
  stats.interrupted = stop && stop->load();
  return stats;
}

std::int64_t regrade(const RegradeOptions& options) {
  auto store = open_sqlite_store(options.db);
  std::vector<RunInfo> runs;
  if (options.runs.empty()) {
    runs = store->list_runs();
  } else {
    for (const auto& r : options.runs) runs.push_back(resolve_run(*store, r));
  }
  GraderSet graders;
  std::int64_t total = 0;
  for (const auto& run : runs) {
    auto wanted_task = [&](const std::string& t) {
      return options.tasks.empty() || std::find(options.tasks.begin(), options.tasks.end(), t) != options.tasks.end();
    };
    std::map<std::pair<std::string, std::string>, ProblemRecord> problems;
    for (auto& p : store->problems(run.id))
      if (wanted_task(p.task)) problems[{p.task, p.problem_id}] = std::move(p);
    std::vector<SampleRecord> samples;
    for (auto& s : store->samples(run.id))
      if (problems.count({s.key.task, s.key.problem_id})) samples.push_back(std::move(s));
    Progress progress(fmt::format("[regrade {}]", run.name), static_cast<std::int64_t>(samples.size()),
                      options.progress);
    JobPool pool(options.threads > 0 ? options.threads : hardware_threads());
    for (const auto& s : samples) {
      const ProblemRecord& p = problems.at({s.key.task, s.key.problem_id});
      pool.submit([&, &s = s, &p = p] {
        const Grader& g = graders.get(grader_for_task(p.task));
        store->add_grade(GradeRecord{run.id, s.key, std::string(g.name()), std::string(g.version()),
                                     grade_sample(g, p, s), ""});
        progress.add(1);
      });
    }
    pool.wait();
    progress.finish();
    total += static_cast<std::int64_t>(samples.size());
  }
  store->flush();
  return total;
}

}  // namespace reval
