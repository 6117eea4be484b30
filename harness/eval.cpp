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
#include "harness/sample_grading.hpp"
#include "harness/progress.hpp"
#include "results/codeforces_rating.hpp"
#include "results/report.hpp"
#include "tasks/preset.hpp"
#include "reval/version.hpp"

namespace reval {

namespace {

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

// Fields of a stored run that must match for a resume to be meaningful; the rest of the config is checked and
// united by combine_run_configs().
void check_resumable(const RunInfo& stored, const RunInfo& wanted) {
  auto mismatch = [&](const std::string& what, const std::string& a, const std::string& b) {
    throw Error(fmt::format(
        "run '{}' already exists with a different {} (stored \"{}\", requested \"{}\"); pass --run-name to start a "
        "new run",
        stored.name, what, a, b));
  };
  if (stored.model != wanted.model) mismatch("model", stored.model, wanted.model);
  if (stored.backend != wanted.backend) mismatch("backend", stored.backend, wanted.backend);
}

// --filters as given -> task -> filters, for the selected tasks. An object whose keys are all task names is the
// per-task form; any other object is one task's filters and needs exactly one selected task.
std::map<std::string, nlohmann::json> filters_by_task(const nlohmann::json& filters,
                                                      const std::vector<std::string>& selected) {
  std::map<std::string, nlohmann::json> out;
  if (filters.is_null()) return out;
  if (!filters.is_object()) throw Error("--filters: expected a JSON object, got " + filters.dump());
  if (filters.empty()) return out;
  auto is_task = [](const std::string& name) {
    const auto& all = all_tasks();
    return std::any_of(all.begin(), all.end(), [&](const TaskInfo& t) { return t.name == name; });
  };
  bool per_task = true;
  for (const auto& [key, value] : filters.items()) per_task = per_task && is_task(key);
  if (per_task) {
    for (const auto& [key, value] : filters.items()) {
      if (std::find(selected.begin(), selected.end(), key) == selected.end())
        throw Error(fmt::format("--filters: field '{}': task {} is not selected (--tasks or the suite)", key, key));
      if (!value.is_object()) throw Error(fmt::format("--filters: field '{}': expected an object of filters", key));
      out[key] = value;
    }
    return out;
  }
  if (selected.size() != 1)
    throw Error(fmt::format("--filters: {} tasks are selected; give filters per task, e.g. "
                            "{{\"livecodebench\": {}}}",
                            selected.size(), filters.dump()));
  out[selected.front()] = filters;
  return out;
}

}  // namespace

EvalPlan plan_eval(const EvalOptions& options, const BackendInfo& backend, int backend_concurrency) {
  EvalPlan plan;
  // A replay backend reads stored completions: it uses no sampling parameters, system prompt or chat template, so
  // the run records none (and a resume does not compare them).
  const bool generates = backend.backend != "replay";
  std::vector<std::pair<std::string, int>> wanted;  // task, k (0 = default)
  nlohmann::json preset_filters = nlohmann::json::object();
  std::string preset_id;
  if (!options.suite.empty()) {
    Preset preset = load_preset(options.suite);
    preset_id = preset.label();
    plan.sampling.temperature = preset.temperature;
    plan.sampling.top_p = preset.top_p;
    plan.sampling.max_new_tokens = preset.max_new_tokens;
    plan.sampling.seed = preset.seed;
    plan.sampling.stop = preset.stop;
    plan.system_prompt = preset.system_prompt;
    for (const auto& t : preset.tasks) {
      if (!options.tasks.empty() &&
          std::find(options.tasks.begin(), options.tasks.end(), t.task) == options.tasks.end())
        continue;
      wanted.emplace_back(t.task, t.k);
      preset_filters[t.task] = t.filters;
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
  if (options.stop) plan.sampling.stop = *options.stop;
  for (const auto& stop : plan.sampling.stop)
    if (stop.empty()) throw Error("--stop: an empty stop string would end every sample at once");
  if (options.system_prompt) plan.system_prompt = *options.system_prompt;
  if (plan.system_prompt && plan.system_prompt->empty()) plan.system_prompt.reset();  // --system-prompt "" = none
  std::vector<std::string> selected;
  for (const auto& [name, k] : wanted) selected.push_back(name);
  const auto cli_filters = filters_by_task(options.filters, selected);

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
    if (auto f = cli_filters.find(name); f != cli_filters.end()) load.filters = f->second;
    else load.filters = preset_filters.contains(name) ? preset_filters[name] : nlohmann::json::object();
    tp.problems = load_task(name, load);
    if (options.limit > 0 && static_cast<int>(tp.problems.size()) > options.limit)
      tp.problems.resize(static_cast<size_t>(options.limit));
    if (options.shard.active()) {  // by position after --limit: see ShardSpec
      std::vector<Problem> mine;
      for (size_t i = 0; i < tp.problems.size(); ++i)
        if (options.shard.holds(i)) mine.push_back(std::move(tp.problems[i]));
      tp.problems = std::move(mine);
    }
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
                {"data_dir", load.data_dir},
                {"prompt_template", options.prompt_template},
                {"limit", options.limit}};
  if (generates) {
    run.config["sampling"] = to_json(plan.sampling);
    run.config["system_prompt"] = plan.system_prompt ? nlohmann::json(*plan.system_prompt) : nlohmann::json();
    run.config["chat_template"] = options.backend_options.chat_template;
    run.config["chat_template_id"] = backend.chat_template_id;
  } else {
    std::vector<std::string> unused;
    if (options.temperature) unused.push_back("--temperature");
    if (options.top_p) unused.push_back("--top-p");
    if (options.top_k) unused.push_back("--top-k");
    if (options.min_p) unused.push_back("--min-p");
    if (options.max_new_tokens) unused.push_back("--max-new-tokens");
    if (options.stop) unused.push_back("--stop");
    if (options.system_prompt) unused.push_back("--system-prompt");
    if (!options.backend_options.chat_template.empty()) unused.push_back("--chat-template");
    if (!unused.empty()) {
      std::string list;
      for (const auto& u : unused) list += (list.empty() ? "" : ", ") + u;
      std::fprintf(stderr, "reval: warning: the replay backend generates nothing: %s not used and not recorded\n",
                   list.c_str());
    }
    plan.system_prompt.reset();
  }
  if (backend.details.is_object() && !backend.details.empty()) run.config["backend_details"] = backend.details;
  if (options.shard.active())
    run.config["shard"] = {{"count", options.shard.count}, {"indices", {options.shard.index}}};
  plan.concurrency = options.concurrency > 0 ? options.concurrency : std::max(1, backend_concurrency);
  plan.grading_threads = options.grading_threads > 0 ? options.grading_threads : hardware_threads();
  plan.progress = options.progress;
  return plan;
}

EvalStats execute_eval(const EvalPlan& plan, SampleStore& store, Backend& backend, const std::atomic<bool>* stop) {
  EvalStats stats;
  RunInfo run = plan.run;
  auto stopping = [stop] { return stop && stop->load(); };
  nlohmann::json config = run.config;
  if (auto existing = store.find_run(run.name)) {
    check_resumable(*existing, run);
    config = combine_run_configs(existing->config, run.config, "run '" + run.name + "'");
  }
  run = store.create_or_open_run(run);
  stats.run_id = run.id;
  // One process per run: a second `reval eval` on the same run is refused instead of generating everything twice.
  auto lease = store.lease_run(run.id, LeaseOptions{"eval"});

  // Problems (idempotent) and what is already there.
  std::vector<ProblemRecord> records;
  for (const auto& tp : plan.tasks)
    for (const auto& p : tp.problems) records.push_back(to_record(run.id, p));
  store.put_problems(records);
  // The stored configuration describes what the run holds: a run extended with new tasks, a larger k or more
  // problems (a longer --limit, another shard) says so.
  if (config.contains("tasks") && config["tasks"].is_array())
    for (auto& t : config["tasks"])
      if (t.contains("task") && t["task"].is_string())
        t["problems"] = store.problem_metadata(run.id, t["task"].get<std::string>()).size();
  if (config != run.config) {
    auto changes = config_changes(run.config, config);
    store.update_run_config(run.id, config);
    if (plan.progress && !changes.empty()) {
      std::string list;
      for (const auto& c : changes) list += (list.empty() ? "" : "; ") + c;
      std::fprintf(stderr, "reval: run '%s' extended: %s\n", run.name.c_str(), list.c_str());
    }
    run.config = config;
  }
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

  std::shared_ptr<GraderSet> graders = plan.graders ? plan.graders : std::make_shared<GraderSet>();
  std::atomic<std::int64_t> graded{0}, generated{0}, gen_errors{0};
  std::mutex first_error_mu;
  std::string first_error;  // the first generation error's message (guarded by first_error_mu)
  // Samples of this plan already stored, and which of them lack a grade (an earlier run was interrupted).
  std::set<SampleKey> ungraded;
  {
    std::set<std::pair<std::string, std::string>> planned;
    for (const auto& tp : plan.tasks)
      for (const auto& p : tp.problems) planned.insert({p.task, p.id});
    for (const auto& s : store.sample_summaries(run.id)) {
      if (!s.error.empty() || !planned.count({s.key.task, s.key.problem_id})) continue;
      if (!s.grade) ungraded.insert(s.key);
    }
  }

  if (plan.progress) {
    // Every run logs its effective configuration and provenance before generating.
    nlohmann::json shown = {{"run", run.name}, {"id", run.id}, {"model", run.model}, {"model_hash", run.model_hash},
                            {"backend", run.backend}, {"engine", run.engine_version}, {"device", run.device},
                            {"preset", run.preset}, {"config", run.config}};
    std::fprintf(stderr, "reval: %s\n", shown.dump().c_str());
    std::string not_graded = ungraded.empty() ? "" : fmt::format(" ({} of them not graded yet)", ungraded.size());
    std::fprintf(stderr, "reval: %lld samples expected, %lld already stored%s, %zu problems to generate for\n",
                 static_cast<long long>(stats.expected), static_cast<long long>(stats.already_stored),
                 not_graded.c_str(), jobs.size());
  }
  Progress progress(fmt::format("[{}]", run.name), stats.expected, plan.progress);
  progress.track_grading();
  progress.set_initial(stats.already_stored, stats.already_stored - static_cast<std::int64_t>(ungraded.size()));
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
  // A grading job: dropped when a stop was requested or a write failed before it started (the sample stays stored
  // without a grade; a resume grades it).
  auto grade_job = [&](SampleRecord s, const Problem* problem, const std::string& grader_name) {
    return [&, s = std::move(s), problem, grader_name] {
      if (failed.load() || stopping()) return;
      GradeRecord g = grade_record(run.id, s.key,
                                   graders->grade(grader_name, sample_to_grade(problem->gold, problem->grading, s)));
      if (guarded_write([&] { store.add_grade(g); })) {
        ++graded;
        progress.add_graded(1);
      }
    };
  };
  {
    JobPool grading(plan.grading_threads);
    // Samples stored by an earlier, interrupted run may lack grades: grade those first. The summaries carry no
    // completion text, so completions are read only when something is actually ungraded.
    if (!ungraded.empty()) {
      std::map<std::pair<std::string, std::string>, std::pair<const Problem*, std::string>> by_id;
      for (const auto& tp : plan.tasks)
        for (const auto& p : tp.problems) by_id[{p.task, p.id}] = {&p, tp.info.grader};
      for (const auto& tp : plan.tasks) {
        for (auto& s : store.samples(run.id, tp.info.name)) {
          auto p = by_id.find({s.key.task, s.key.problem_id});
          if (!ungraded.count(s.key) || p == by_id.end()) continue;
          grading.submit(grade_job(std::move(s), p->second.first, p->second.second));
        }
      }
    }
    std::atomic<size_t> next{0};
    auto worker = [&] {
      for (;;) {
        if (stopping() || failed.load()) return;
        size_t idx = next++;
        if (idx >= jobs.size()) return;
        const Job& job = jobs[idx];
        GenerationRequest req;
        req.task = job.task->info.name;
        req.problem_id = job.problem->id;
        if (plan.system_prompt) req.messages.push_back(ChatMessage{"system", *plan.system_prompt});
        req.messages.push_back(ChatMessage{"user", job.problem->prompt});
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
          grading.submit(grade_job(std::move(s), job.problem, job.task->info.grader));
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
  stats.generated = generated.load();
  stats.generation_errors = gen_errors.load();
  {
    std::lock_guard lock(first_error_mu);
    stats.first_generation_error = first_error;
  }
  stats.graded = graded.load();
  stats.interrupted = stopping();
  for (const auto& s : store.sample_summaries(run.id)) {
    ++stats.stored;
    if (s.grade) ++stats.stored_graded;
  }
  stats.left_to_grade = stats.stored - stats.stored_graded;
  refresh_ratings(store, run.id);  // Codeforces-style ratings of the run, recomputed from the new grades
  return stats;
}

}  // namespace reval
