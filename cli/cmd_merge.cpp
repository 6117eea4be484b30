// `reval merge OUT.db IN.db...`: combine the result databases of several machines (the shards of `reval eval
// --shard I/N`) into one (harness/merge.hpp). Prints what each run received and every conflict; exits 2 when there
// were conflicts (the rest is merged), 1 when the runs are not the same evaluation (nothing is merged).
#include <cstdio>

#include <fmt/format.h>

#include "cli/cli.hpp"
#include "harness/merge.hpp"

namespace reval::cli {

void add_merge_command(CLI::App& app, int& status) {
  auto opts = std::make_shared<MergeOptions>();
  auto* cmd = app.add_subcommand("merge", "Combine result databases (e.g. the shards of one run) into OUT");
  cmd->add_option("out", opts->out, "Output database (created if missing)")->required();
  cmd->add_option("inputs", opts->inputs, "Input databases (read-only)")->required();
  cmd->add_option("--runs", opts->runs, "Only these runs (names; default every run)")->delimiter(',');
  cmd->callback([opts, &status] {
    MergeStats stats = merge_databases(*opts);
    for (const auto& r : stats.runs) {
      std::printf("run %s%s: %lld samples, %lld grades, %lld problems added; %lld duplicates merged once", r.run.c_str(),
                  r.created ? " (new)" : "", static_cast<long long>(r.samples_added),
                  static_cast<long long>(r.grades_added), static_cast<long long>(r.problems_added),
                  static_cast<long long>(r.duplicates));
      if (r.failed_replaced) std::printf("; %lld failed samples replaced", static_cast<long long>(r.failed_replaced));
      if (r.failed_ignored)
        std::printf("; %lld failed samples ignored (a generated one is kept)", static_cast<long long>(r.failed_ignored));
      std::printf("; %lld conflicts\n", static_cast<long long>(r.conflicts));
      if (r.config.contains("shard"))
        std::printf("  shards present: %s of %s (the run is partial until every shard is merged)\n",
                    r.config["shard"]["indices"].dump().c_str(), r.config["shard"]["count"].dump().c_str());
      for (const auto& note : r.notes) std::printf("  note: %s\n", note.c_str());
    }
    for (const auto& c : stats.conflicts) {
      std::string where = c.key.sample_index < 0 ? fmt::format("{}/{}", c.key.task, c.key.problem_id)
                                                 : fmt::format("{}/{}#{}", c.key.task, c.key.problem_id,
                                                               c.key.sample_index);
      std::fprintf(stderr, "reval: conflict: run %s, %s from %s: %s\n", c.run.c_str(), where.c_str(), c.input.c_str(),
                   c.what.c_str());
    }
    if (!stats.conflicts.empty()) {
      std::fprintf(stderr, "reval: %zu conflicts: those rows were not merged (the output keeps its own)\n",
                   stats.conflicts.size());
      status = 2;
    }
  });
}

}  // namespace reval::cli
