// See merge.hpp for the theory of operation.
#include "harness/merge.hpp"

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "base/error.hpp"
#include "base/hash.hpp"
#include "harness/run_config.hpp"
#include "results/codeforces_rating.hpp"
#include "results/store.hpp"

namespace reval {

namespace {

namespace fs = std::filesystem;

bool same_file(const std::string& a, const std::string& b) {
  std::error_code ec;
  if (fs::exists(a, ec) && fs::exists(b, ec)) return fs::equivalent(a, b, ec);
  return fs::weakly_canonical(a, ec) == fs::weakly_canonical(b, ec);
}

// What a stored sample is, for duplicate detection: its text and its error.
std::uint64_t sample_hash(const SampleRecord& s) {
  return fnv1a64(s.error, fnv1a64(std::string_view("\0", 1), fnv1a64(s.completion)));
}

std::uint64_t problem_hash(const ProblemRecord& p) {
  std::uint64_t h = fnv1a64(p.prompt);
  for (const auto* j : {&p.gold, &p.grading}) h = fnv1a64(j->dump(), fnv1a64(std::string_view("\0", 1), h));
  return h;
}

struct Known {
  std::uint64_t hash = 0;
  bool failed = false;       // error set (infra_error)
  std::size_t bytes = 0;
  std::string source;        // file it came from
  bool graded = false;
};

struct Source {
  std::string path;
  std::unique_ptr<SampleStore> store;
  std::vector<RunInfo> runs;
};

nlohmann::json provenance(const std::string& path, const RunInfo& r) {
  nlohmann::json p = {{"db", path},         {"host", r.host},     {"device", r.device},
                      {"created_at", r.created_at}, {"reval_version", r.reval_version}};
  if (r.config.contains("shard")) p["shard"] = r.config["shard"];
  return p;
}

}  // namespace

MergeStats merge_databases(const MergeOptions& options) {
  if (options.out.empty()) throw Error("merge: no output database");
  if (options.inputs.empty()) throw Error("merge: no input databases");
  for (const auto& in : options.inputs) {
    if (same_file(in, options.out))
      throw Error(fmt::format("merge: {} is both the output and an input; name a new output file", in));
    std::error_code ec;
    if (!fs::is_regular_file(in, ec)) throw Error(fmt::format("merge: {}: no such database file", in));
  }
  std::vector<Source> sources;
  StoreOptions ro;
  ro.read_only = true;
  ro.quick_check = true;
  for (const auto& in : options.inputs) {
    Source s;
    s.path = in;
    s.store = open_sqlite_store(in, ro);
    s.runs = s.store->list_runs();
    sources.push_back(std::move(s));
  }
  // OUT is opened (created) only once the merge is known to be acceptable; its existing runs are read first.
  std::vector<RunInfo> out_runs;
  {
    std::error_code ec;
    if (fs::exists(options.out, ec)) out_runs = open_sqlite_store(options.out, ro)->list_runs();
  }
  auto out_run = [&](const std::string& name) -> std::optional<RunInfo> {
    for (const auto& r : out_runs)
      if (r.name == name) return r;
    return std::nullopt;
  };

  // Which runs, and the plan for each: check every identity before writing anything.
  std::vector<std::string> names;
  for (const auto& src : sources)
    for (const auto& r : src.runs)
      if ((options.runs.empty() ||
           std::find(options.runs.begin(), options.runs.end(), r.name) != options.runs.end()) &&
          std::find(names.begin(), names.end(), r.name) == names.end())
        names.push_back(r.name);
  for (const auto& wanted : options.runs)
    if (std::find(names.begin(), names.end(), wanted) == names.end())
      throw Error(fmt::format("merge: no input holds a run named '{}'", wanted));
  if (names.empty()) throw Error("merge: the inputs hold no runs");

  struct RunPlan {
    RunInfo base;               // identity (OUT's run, else the first input's)
    bool exists = false;        // in OUT already
    nlohmann::json config;      // the union
    std::vector<std::pair<Source*, RunInfo>> parts;
    std::vector<std::string> notes;
  };
  std::vector<RunPlan> plans;
  for (const auto& name : names) {
    RunPlan plan;
    std::string base_file = options.out;
    if (auto existing = out_run(name)) {
      plan.base = *existing;
      plan.exists = true;
    }
    for (auto& src : sources)
      for (const auto& r : src.runs)
        if (r.name == name) plan.parts.emplace_back(&src, r);
    if (!plan.exists) {
      plan.base = plan.parts.front().second;
      base_file = plan.parts.front().first->path;
    }
    plan.config = plan.base.config;
    for (const auto& [src, r] : plan.parts) {
      const std::string what = fmt::format("run '{}' in {}", name, src->path);
      auto refuse = [&](const std::string& field, const std::string& a, const std::string& b) {
        throw Error(fmt::format("merge: {} is not the same evaluation as in {}: different {} ({} there, {} here); "
                                "nothing was merged",
                                what, base_file, field, a.empty() ? "none" : a, b.empty() ? "none" : b));
      };
      if (r.model != plan.base.model) refuse("model", plan.base.model, r.model);
      if (r.model_hash != plan.base.model_hash) refuse("model hash", plan.base.model_hash, r.model_hash);
      if (r.backend != plan.base.backend) refuse("backend", plan.base.backend, r.backend);
      if (r.preset != plan.base.preset) refuse("preset", plan.base.preset, r.preset);
      try {
        plan.config = combine_run_configs(plan.config, r.config, "merge: " + what);
      } catch (const Error& e) {
        throw Error(std::string(e.what()) + " (compared with " + base_file + "; nothing was merged)");
      }
      if (r.engine_version != plan.base.engine_version)
        plan.notes.push_back(fmt::format("{}: engine version {} (first: {})", src->path, r.engine_version,
                                         plan.base.engine_version));
      if (r.reval_version != plan.base.reval_version)
        plan.notes.push_back(fmt::format("{}: reval version {} (first: {})", src->path, r.reval_version,
                                         plan.base.reval_version));
    }
    plans.push_back(std::move(plan));
  }

  StoreOptions wo;
  wo.quick_check = true;
  auto out = open_sqlite_store(options.out, wo);
  MergeStats stats;
  for (auto& plan : plans) {
    MergeRunStats rs;
    rs.run = plan.base.name;
    rs.created = !plan.exists;
    rs.notes = plan.notes;
    RunInfo target = out->create_or_open_run(plan.base);
    auto lease = out->lease_run(target.id, LeaseOptions{"merge"});

    // What OUT holds already.
    std::map<std::pair<std::string, std::string>, std::pair<std::uint64_t, std::string>> problems;
    std::map<SampleKey, Known> known;
    std::set<std::string> tasks;
    if (plan.exists) {
      for (const auto& p : out->problems(target.id)) {
        problems[{p.task, p.problem_id}] = {problem_hash(p), options.out};
        tasks.insert(p.task);
      }
      std::set<SampleKey> graded;
      for (const auto& s : out->sample_summaries(target.id))
        if (s.grade) graded.insert(s.key);
      for (const auto& task : tasks)
        for (const auto& s : out->samples(target.id, task))
          known[s.key] = Known{sample_hash(s), !s.error.empty(), s.completion.size(), options.out,
                               graded.count(s.key) > 0};
    }

    for (const auto& [src, r] : plan.parts) {
      std::set<std::string> in_tasks;
      for (const auto& [task, n] : src->store->sample_counts(r.id)) in_tasks.insert(task);
      std::vector<ProblemRecord> all_problems = src->store->problems(r.id);
      for (const auto& p : all_problems) in_tasks.insert(p.task);
      for (const auto& task : in_tasks) {
        std::vector<ProblemRecord> add;
        for (auto& p : all_problems) {
          if (p.task != task) continue;
          auto it = problems.find({p.task, p.problem_id});
          std::uint64_t h = problem_hash(p);
          if (it == problems.end()) {
            problems[{p.task, p.problem_id}] = {h, src->path};
            p.run_id = target.id;
            add.push_back(std::move(p));
          } else if (it->second.first != h) {
            ++rs.conflicts;
            stats.conflicts.push_back({rs.run, src->path, SampleKey{p.task, p.problem_id, -1},
                                       fmt::format("the problem differs (prompt, gold or grading; kept the one from "
                                                   "{}): were the machines' data files the same release?",
                                                   it->second.second)});
          }
        }
        rs.problems_added += static_cast<std::int64_t>(add.size());
        if (!add.empty()) out->put_problems(add);

        std::map<SampleKey, GradeRecord> grades;
        for (auto& g : src->store->grades(r.id, task)) grades.emplace(g.key, std::move(g));
        for (auto& s : src->store->samples(r.id, task)) {
          const std::uint64_t h = sample_hash(s);
          const bool failed = !s.error.empty();
          auto grade = grades.find(s.key);
          auto copy = [&](bool with_sample) {
            SampleKey key = s.key;
            if (with_sample) {
              SampleRecord row = s;
              row.run_id = target.id;
              out->add_sample(row);
            }
            bool graded = false;
            if (grade != grades.end()) {
              GradeRecord g = grade->second;
              g.run_id = target.id;
              out->add_grade(g);
              ++rs.grades_added;
              graded = true;
            }
            return std::pair<SampleKey, bool>{key, graded};
          };
          auto it = known.find(s.key);
          if (it == known.end()) {
            auto [key, graded] = copy(true);
            known[key] = Known{h, failed, s.completion.size(), src->path, graded};
            ++rs.samples_added;
          } else if (it->second.hash == h) {
            ++rs.duplicates;
            if (!it->second.graded && grade != grades.end()) it->second.graded = copy(false).second;
          } else if (it->second.failed && !failed) {
            auto [key, graded] = copy(true);  // the upsert drops the failed sample's grade
            it->second = Known{h, false, s.completion.size(), src->path, graded};
            ++rs.failed_replaced;
          } else if (failed) {
            ++rs.failed_ignored;
          } else {
            ++rs.conflicts;
            stats.conflicts.push_back(
                {rs.run, src->path, s.key,
                 fmt::format("different completion text (kept: {} bytes from {}; {}: {} bytes)", it->second.bytes,
                             it->second.source, src->path, s.completion.size())});
          }
        }
        out->flush();
      }
    }

    // The configuration of what OUT now holds, with where it came from.
    nlohmann::json config = plan.config;
    if (config.contains("tasks") && config["tasks"].is_array())
      for (auto& t : config["tasks"])
        if (t.contains("task") && t["task"].is_string())
          t["problems"] = out->problem_metadata(target.id, t["task"].get<std::string>()).size();
    nlohmann::json from = plan.exists && target.config.contains("merged_from") && target.config["merged_from"].is_array()
                              ? target.config["merged_from"]
                              : nlohmann::json::array();
    for (const auto& [src, r] : plan.parts) from.push_back(provenance(src->path, r));
    config["merged_from"] = from;
    out->update_run_config(target.id, config);
    rs.config = config;
    out->flush();
    refresh_ratings(*out, target.id);
    stats.runs.push_back(std::move(rs));
  }
  out->flush();
  return stats;
}

}  // namespace reval
