// See regrade.hpp for the theory of operation.
#include "harness/regrade.hpp"

#include <algorithm>
#include <mutex>

#include <fmt/format.h>

#include "base/job_pool.hpp"
#include "graders/grading.hpp"
#include "harness/progress.hpp"
#include "harness/sample_grading.hpp"
#include "results/codeforces_rating.hpp"
#include "results/report.hpp"
#include "results/store.hpp"
#include "tasks/task.hpp"

namespace reval {

RegradeStats regrade(const RegradeOptions& options, const std::atomic<bool>* stop) {
  auto store = open_sqlite_store(options.db);
  std::vector<RunInfo> runs;
  if (options.runs.empty()) {
    runs = store->list_runs();
  } else {
    for (const auto& r : options.runs) runs.push_back(resolve_run(*store, r));
  }
  for (const auto& t : options.tasks) task_info(t);  // an unknown task name is an error, not "nothing to do"
  GraderSet graders;
  RegradeStats stats;
  std::mutex stats_mu;
  auto stopping = [stop] { return stop && stop->load(); };
  for (const auto& run : runs) {
    if (stopping()) break;
    auto wanted_task = [&](const std::string& t) {
      return options.tasks.empty() || std::find(options.tasks.begin(), options.tasks.end(), t) != options.tasks.end();
    };
    std::map<std::pair<std::string, std::string>, ProblemRecord> problems;
    for (auto& p : store->problems(run.id))
      if (wanted_task(p.task)) problems[{p.task, p.problem_id}] = std::move(p);
    auto lease = store->lease_run(run.id, LeaseOptions{"regrade"});
    std::vector<SampleRecord> samples;
    for (auto& s : store->samples(run.id))
      if (problems.count({s.key.task, s.key.problem_id})) samples.push_back(std::move(s));
    std::map<SampleKey, GradeRecord> before;
    for (auto& g : store->grades(run.id)) before.emplace(g.key, std::move(g));

    Progress progress(fmt::format("[regrade {}]", run.name), static_cast<std::int64_t>(samples.size()),
                      options.progress);
    std::vector<VerdictChange> changes;
    JobPool pool(options.threads);
    for (const auto& s : samples) {
      const ProblemRecord& p = problems.at({s.key.task, s.key.problem_id});
      pool.submit([&, &s = s, &p = p] {
        if (stopping()) {
          std::lock_guard lock(stats_mu);
          ++stats.skipped;
          return;
        }
        GradeRecord g = grade_record(run.id, s.key,
                                     graders.grade(task_info(p.task).grader, sample_to_grade(p.gold, p.grading, s)));
        auto old = before.find(s.key);
        const std::string old_verdict(old == before.end() ? std::string_view("ungraded")
                                                           : to_string(old->second.result.verdict));
        const std::string new_verdict(to_string(g.result.verdict));
        std::optional<VerdictChange> change;
        if (old_verdict != new_verdict) {
          change = VerdictChange{run.name, s.key, old_verdict, new_verdict,
                                 old == before.end() ? std::nullopt : old->second.result.extracted,
                                 g.result.extracted};
        }
        store->add_grade(g);
        progress.add(1);
        std::lock_guard lock(stats_mu);
        ++stats.graded;
        if (change) {
          ++stats.changed;
          ++stats.changes_by_kind[old_verdict + " -> " + new_verdict];
          if (options.list_changes) changes.push_back(std::move(*change));
        }
      });
    }
    pool.wait();
    store->flush();
    progress.finish();
    refresh_ratings(*store, run.id);  // Codeforces-style ratings of the run, recomputed from the new grades
    std::sort(changes.begin(), changes.end(),
              [](const VerdictChange& a, const VerdictChange& b) { return a.key < b.key; });
    stats.changes.insert(stats.changes.end(), std::make_move_iterator(changes.begin()),
                         std::make_move_iterator(changes.end()));
  }
  store->flush();
  return stats;
}

}  // namespace reval
