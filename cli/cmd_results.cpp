// `reval runs`, `reval report`, `reval compare` and `reval check`: parse options and call the results/ functions
// (report --format html: results/report_html.hpp).
// All read an existing results database, opened read-only; a missing file is an error (never created empty).
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>

#include <fmt/format.h>

#include "cli/cli.hpp"
#include "base/error.hpp"
#include "results/report.hpp"
#include "results/report_html.hpp"
#include "results/store.hpp"

namespace reval::cli {

namespace {

std::unique_ptr<SampleStore> open_existing(const std::string& db) { return open_existing_store(db); }

void write_output(const std::string& text, const std::string& path) {
  if (path.empty() || path == "-") {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
    return;
  }
  std::ofstream out(path, std::ios::binary);
  if (!out) throw Error(path + ": cannot open for writing");
  out << text;
  out.close();
  if (!out) throw Error(path + ": write failed");
}

struct StatOpts {
  int bootstrap = 2000;
  std::uint64_t seed = BootstrapOptions{}.seed;
  double confidence = 0.95;

  void add(CLI::App* cmd) {
    cmd->add_option("--bootstrap", bootstrap, "Bootstrap resamples for confidence intervals")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    cmd->add_option("--seed", seed, "Seed of the bootstrap/permutation RNG (results are deterministic)")
        ->capture_default_str();
    cmd->add_option("--confidence", confidence, "Two-sided confidence level of the intervals")
        ->check(CLI::Range(0.5, 0.999))
        ->capture_default_str();
  }
  BootstrapOptions options() const {
    BootstrapOptions b;
    b.resamples = bootstrap;
    b.seed = seed;
    b.confidence = confidence;
    return b;
  }
};

}  // namespace

void add_results_commands(CLI::App& app, int& status) {
  {
    auto db = std::make_shared<std::string>("reval.db");
    auto* cmd = app.add_subcommand("runs", "List the runs stored in a results database");
    cmd->add_option("--db", *db, "SQLite results file")->capture_default_str();
    cmd->callback([db] {
      auto store = open_existing(*db);
      write_output(format_runs_table(*store), "");
    });
  }
  {
    struct Opts {
      std::string db = "reval.db", format = "md", output, task, baseline;
      std::vector<std::string> runs, by;
      std::vector<int> ks;
      int cons_k = 0;
      StatOpts stats;
      HtmlReportOptions html;
      double html_max_text_mb = 12;
    };
    auto o = std::make_shared<Opts>();
    auto* cmd = app.add_subcommand("report", "Leaderboard of runs x tasks: pass@1 with CI, cons@k, pass@k, tokens, "
                                             "breakdowns; HTML: one self-contained page with per-problem views");
    cmd->add_option("--db", o->db, "SQLite results file")->capture_default_str();
    cmd->add_option("--format", o->format, "md | csv | json | html")
        ->check(CLI::IsMember({"md", "markdown", "csv", "json", "html"}))
        ->capture_default_str();
    cmd->add_option("--output,-o", o->output, "Output file (default stdout)");
    cmd->add_option("--runs", o->runs, "Runs to include, by name or id (default all)")->delimiter(',');
    cmd->add_option("--task", o->task, "Only this task");
    cmd->add_option("--k", o->ks, "pass@k values (default: powers of two up to the samples per problem)")
        ->delimiter(',');
    cmd->add_option("--cons-k", o->cons_k, "k of cons@k (default: all samples of a problem)");
    cmd->add_option("--by", o->by,
                    "Break pass@1 down by problem metadata: subject, level, domain, difficulty, platform, category, "
                    "rating_band, tags, ... or auto (html: auto by default)")
        ->delimiter(',');
    cmd->add_option("--baseline", o->baseline, "html: the run the others are compared with (default: the first)");
    cmd->add_option("--html-completions", o->html.completions,
                    "html: completions embedded per problem and run (0: none)")
        ->check(CLI::NonNegativeNumber)
        ->capture_default_str();
    cmd->add_option("--html-completion-chars", o->html.completion_chars,
                    "html: longest embedded completion in characters (first quarter and last three quarters kept)")
        ->check(CLI::NonNegativeNumber)
        ->capture_default_str();
    cmd->add_option("--html-max-text", o->html_max_text_mb,
                    "html: millions of characters of completion text in the whole page (each is cut to fit)")
        ->check(CLI::NonNegativeNumber)
        ->capture_default_str();
    o->stats.add(cmd);
    cmd->callback([o] {
      auto format = report_format_from_string(o->format);
      auto store = open_existing(o->db);
      ReportOptions ro;
      ro.runs = o->runs;
      ro.task = o->task;
      ro.metrics.ks = o->ks;
      ro.metrics.cons_k = o->cons_k;
      ro.metrics.bootstrap = o->stats.options();
      ro.by = o->by;
      if (format == ReportFormat::html) {
        if (ro.by.empty()) ro.by = {kAutoBreakdown};
        ro.digests = true;
      }
      auto board = build_leaderboard(*store, ro);
      if (format == ReportFormat::html) {
        HtmlReportOptions h = o->html;
        h.text_budget = static_cast<std::int64_t>(o->html_max_text_mb * 1e6);
        h.baseline = o->baseline;
        h.paired.bootstrap = ro.metrics.bootstrap;
        h.db_path = o->db;
        write_output(render_html_report(board, store.get(), h), o->output);
      } else {
        write_output(render_leaderboard(board, format), o->output);
      }
      if (!o->output.empty() && o->output != "-")
        std::fprintf(stderr, "reval: wrote %zu rows (%zu runs) to %s\n", board.rows.size(), board.runs.size(),
                     o->output.c_str());
    });
  }
  {
    struct Opts {
      std::string db = "reval.db", run_a, run_b, task, format = "text";
      int permutations = 10000;
      StatOpts stats;
    };
    auto o = std::make_shared<Opts>();
    auto* cmd = app.add_subcommand(
        "compare", "Paired comparison of two runs per task: pass@1 difference, bootstrap CI, permutation p-value");
    cmd->add_option("RUN_A", o->run_a, "First run (name or id)")->required();
    cmd->add_option("RUN_B", o->run_b, "Second run (name or id)")->required();
    cmd->add_option("--db", o->db, "SQLite results file")->capture_default_str();
    cmd->add_option("--task", o->task, "Only this task");
    cmd->add_option("--format", o->format, "text | md | csv | json")
        ->check(CLI::IsMember({"text", "md", "markdown", "csv", "json"}))
        ->capture_default_str();
    cmd->add_option("--permutations", o->permutations, "Random sign flips when there are > 16 problems")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    o->stats.add(cmd);
    cmd->callback([o, &status] {
      auto store = open_existing(o->db);
      PairedOptions po;
      po.bootstrap = o->stats.options();
      po.permutations = o->permutations;
      auto cmp = compare_runs(*store, o->run_a, o->run_b, o->task, po);
      write_output(o->format == "text" ? format_comparison(cmp)
                                       : render_comparison(cmp, report_format_from_string(o->format)),
                   "");
      if (cmp.tasks.empty()) status = 1;
    });
  }
  {
    auto db = std::make_shared<std::string>("reval.db");
    auto* cmd = app.add_subcommand("check", "Check a results database: integrity, row counts, orphan rows");
    cmd->add_option("--db", *db, "SQLite results file")->capture_default_str();
    cmd->callback([db, &status] {
      std::error_code ec;
      if (!std::filesystem::is_regular_file(*db, ec)) throw Error(*db + ": field 'db': no such results database");
      StoreOptions o;
      o.read_only = true;  // no quick_check: this command is how a damaged file is inspected
      auto store = open_sqlite_store(*db, o);
      StoreCheck r = store->check();
      std::string out = fmt::format("database: {}\nschema version: {}\nintegrity:", *db, r.schema_version);
      for (const auto& line : r.integrity) out += (r.integrity.size() > 1 ? "\n  " : " ") + line;
      out += "\nrows:";
      for (const auto& [table, n] : r.rows) out += fmt::format(" {} {}", table, n);
      out += "\norphan rows:";
      bool none = true;
      for (const auto& [kind, n] : r.orphans)
        if (n != 0) {
          out += fmt::format("\n  {}: {}", kind, n);
          none = false;
        }
      if (none) out += " none";
      out += "\n";
      write_output(out, "");
      if (!r.ok()) {
        std::fprintf(stderr, "reval: %s: the database is damaged (see above)\n", db->c_str());
        status = 1;
      }
    });
  }
}

}  // namespace reval::cli
