// `reval rating`: computes a run's Codeforces-style rating (results/codeforces_rating.hpp), stores it in the results
// database (so reports show it) and prints the per-contest or per-problem breakdown.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>

#include <fmt/format.h>

#include "base/error.hpp"
#include "cli/cli.hpp"
#include "results/codeforces_rating.hpp"
#include "results/report.hpp"
#include "results/store.hpp"

namespace reval::cli {

void add_rating_command(CLI::App& app, int& status) {
  struct Opts {
    std::string db = "reval.db", run, method;
    RatingOptions rating;
    bool json = false, save = true;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand(
      "rating", "Codeforces-style rating of a run: from contest standings (CodeElo's method) or from problem ratings");
  cmd->add_option("--db", o->db, "SQLite results file")->capture_default_str();
  cmd->add_option("--run", o->run, "Run (name or id)")->required();
  cmd->add_option("--method", o->method,
                  "standings | problems (default: standings when any of the run's contests is cached, else problems)")
      ->check(CLI::IsMember({"standings", "problems"}));
  cmd->add_option("--attempts", o->rating.attempts, "A problem counts solved if one of its first N graded samples passes")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--contests", o->rating.contests, "standings: only these contest ids (default: all of the run's)")
      ->delimiter(',');
  cmd->add_option("--min-field", o->rating.min_field,
                  "standings: skip contests with this many rated participants or fewer")
      ->capture_default_str();
  cmd->add_flag("--missing-as-unsolved", o->rating.missing_as_unsolved,
                "standings: count contest problems the run lacks as unsolved (default: skip such contests)");
  cmd->add_option("--confidence", o->rating.confidence, "Two-sided level of the interval")
      ->check(CLI::Range(0.5, 0.999))
      ->capture_default_str();
  cmd->add_option("--data-dir", o->rating.data_dir, "Data dir with codeforces/contests/<id>/ (default: the run's)");
  cmd->add_option("--distribution", o->rating.distribution,
                  "User-rating distribution for the percentile (default: DATA/codeforces/ratings/"
                  "user_rating_histogram.json)");
  cmd->add_option("--population", o->rating.population, "Who the distribution's users are (shown with the percentile)");
  cmd->add_flag("--json", o->json, "Print the rating record as JSON");
  cmd->add_flag("!--no-save", o->save, "Do not store the rating in the database");
  cmd->callback([o, &status] {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(o->db, ec))
      throw Error(o->db + ": field 'db': no such results database");
    auto store = open_sqlite_store(o->db);
    RunInfo run = resolve_run(*store, o->run);
    std::string method = o->method.empty() ? default_rating_method(*store, run, o->rating) : o->method;
    RatingRecord r = compute_rating(*store, run, method, o->rating);
    if (o->save) {
      store->put_rating(r);
      for (const auto& stored : store->ratings(run.id, r.task))  // the stored row (with its computed_at)
        if (stored.method == r.method && stored.params == r.params) r = stored;
    }
    std::string text;
    if (o->json) {
      auto num = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
      text = nlohmann::json{{"run", run.name}, {"run_id", run.id}, {"task", r.task}, {"method", r.method},
                            {"params", r.params}, {"rating", num(r.rating)}, {"se", num(r.se)},
                            {"ci_lo", num(r.ci_lo)}, {"ci_hi", num(r.ci_hi)}, {"percentile", num(r.percentile)},
                            {"population", r.population}, {"used", r.used}, {"skipped", r.skipped},
                            {"details", r.details}, {"computed_at", r.computed_at}}
                 .dump(2) +
             "\n";
    } else {
      text = format_rating_breakdown(run, r);
    }
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
    if (!std::isfinite(r.rating)) status = 1;
  });
}

}  // namespace reval::cli
