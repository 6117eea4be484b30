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
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "base/error.hpp"
#include "base/job_pool.hpp"
#include "base/jsonl.hpp"
#include "graders/grading.hpp"
#include "harness/progress.hpp"
#include "results/codeforces_rating.hpp"
#include "results/report.hpp"
#include "tasks/preset.hpp"
#include "reval/version.hpp"

namespace reval {

namespace {

// The grading input of a stored sample: the text as stored (sanitised), how generation ended, the problem's gold.
SampleToGrade sample_to_grade(const nlohmann::json& gold, const nlohmann::json& grading, const SampleRecord& s) {
  SampleToGrade g;
  g.response = s.completion;
  g.gold = gold;
  g.fields = grading;
  g.finish = finish_reason_from_string(s.finish_reason);
  g.generation_error = s.error;
  return g;
}

// The one construction of a stored grade row.
GradeRecord grade_record(std::int64_t run_id, const SampleKey& key, GradedSample graded) {
  GradeRecord r;
  r.run_id = run_id;
  r.key = key;
  r.grader = std::move(graded.grader);
  r.grader_version = std::move(graded.grader_version);
  r.result = std::move(graded.result);
  return r;
}

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
  load.accept_data_release = options.accept_data_release;
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
                {"chat_template", options.backend_options.chat_template},
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
  // One process per run: a second `reval eval` on the same run is refused instead of generating everything twice.
  auto lease = store.lease_run(run.id, LeaseOptions{"eval"});

  // Problems (idempotent) and what is already there.
  std::vector<ProblemRecord> records;
  for (const auto& tp : plan.tasks)
    for (const auto& p : tp.problems) records.push_back(to_record(run.id, p));
  store.put_problems(records);
  std::set<SampleKey> have = store.sample_keys(run.id);

  struct Job {
    const TaskPlan* task;
    const Problem* problem;
    std::vector<int> missing;
  };
  std::vector<Job> jobs;
  for (const auto& tp : plan.tasks) {
    for (const auto& p : tp.problems) {
      Job job{&tp, &p, {}};
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
  std::mutex first_error_mu;
  std::string first_error;  // the first generation error's message (guarded by first_error_mu)
  std::set<SampleKey> ungraded;
  for (const auto& s : store.sample_summaries(run.id))
    if (!s.grade && s.error.empty()) ungraded.insert(s.key);
  if (!ungraded.empty()) {
    std::map<std::pair<std::string, std::string>, const Problem*> by_id;
    std::map<std::string, std::string> grader_of;
    for (const auto& tp : plan.tasks) {
      grader_of[tp.info.name] = tp.info.grader;
      for (const auto& p : tp.problems) by_id[{p.task, p.id}] = &p;
    }
    JobPool pool(plan.grading_threads);
    for (const auto& s : store.samples(run.id)) {
      auto p = by_id.find({s.key.task, s.key.problem_id});
      if (!ungraded.count(s.key) || p == by_id.end()) continue;
      pool.submit([&, s, problem = p->second, grader_name = grader_of[s.key.task]] {
        store.add_grade(grade_record(run.id, s.key,
                                     graders.grade(grader_name, sample_to_grade(problem->gold, problem->grading, s))));
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
  // A failed write (a full disk, a lost file system) stops the run: no new request starts, in-flight work ends,
  // what can be flushed is, and the error names the database and the cause. Everything written stays; a resume
  // generates and grades what is missing.
  std::mutex failure_mu;
  std::string store_failure;
  std::atomic<bool> failed{false};
  auto guarded_write = [&](const std::function<void()>& write) {
    if (failed.load()) return false;
    try {
      write();
      return true;
    } catch (const std::exception& e) {
      std::lock_guard<std::mutex> lock(failure_mu);
      if (store_failure.empty()) store_failure = e.what();
      failed = true;
      return false;
    }
  };
  {
    JobPool grading(plan.grading_threads);
    std::atomic<size_t> next{0};
    auto worker = [&] {
      for (;;) {
        if ((stop && stop->load()) || failed.load()) return;
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
          if (!guarded_write([&] { store.add_sample(s); })) return;
          ++generated;
          if (!c.error.empty() && gen_errors++ == 0) {
            std::lock_guard lock(first_error_mu);
            first_error = c.error;
          }
          progress.add(1, c.completion_tokens);
          grading.submit([&, s, problem = job.problem, grader_name = job.task->info.grader] {
            if (failed.load()) return;
            GradeRecord g = grade_record(run.id, s.key,
                                         graders.grade(grader_name, sample_to_grade(problem->gold, problem->grading, s)));
            if (guarded_write([&] { store.add_grade(g); })) ++graded;
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
  try {  // flush what can be flushed, also after a failure (and collect the errors of rows still queued)
    store.flush();
  } catch (const std::exception& e) {
    std::lock_guard<std::mutex> lock(failure_mu);
    if (store_failure.empty()) store_failure = e.what();
    failed = true;
  }
  progress.finish();
  if (failed.load())
    throw Error(fmt::format("{}; generation stopped. Everything written before the failure is kept: free space (or "
                            "fix the file system) and run the same command again to resume",
                            store_failure));
  refresh_ratings(store, run.id);  // Codeforces-style ratings of the run, recomputed from the new grades
  stats.generated = generated.load();
  stats.generation_errors = gen_errors.load();
  {
    std::lock_guard lock(first_error_mu);
    stats.first_generation_error = first_error;
  }
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
    auto lease = store->lease_run(run.id, LeaseOptions{"regrade"});
    Progress progress(fmt::format("[regrade {}]", run.name), static_cast<std::int64_t>(samples.size()),
                      options.progress);
    JobPool pool(options.threads);
    for (const auto& s : samples) {
      const ProblemRecord& p = problems.at({s.key.task, s.key.problem_id});
      pool.submit([&, &s = s, &p = p] {
        store->add_grade(grade_record(run.id, s.key, graders.grade(task_info(p.task).grader,
                                                                   sample_to_grade(p.gold, p.grading, s))));
        progress.add(1);
      });
    }
    pool.wait();
    progress.finish();
    refresh_ratings(*store, run.id);  // Codeforces-style ratings of the run, recomputed from the new grades
    total += static_cast<std::int64_t>(samples.size());
  }
  store->flush();
  return total;
}

}  // namespace reval
