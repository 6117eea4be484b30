// `reval samples` (read what a model wrote, in the terminal or as JSONL) and `reval export` (every sample of a run
// as JSONL or CSV, for pandas or datasets): parse options and call export_samples (results/sample_export.hpp). Both
// open the database read-only and stream: memory does not grow with the run.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>

#include <fmt/format.h>

#include "base/error.hpp"
#include "cli/cli.hpp"
#include "results/sample_export.hpp"
#include "results/store.hpp"

namespace reval::cli {

namespace {

struct Filters {
  std::string task, problem;
  int sample = -1;
  std::vector<std::string> verdicts;
  bool truncated = false;

  void add(CLI::App* cmd) {
    cmd->add_option("--task", task, "Only this task");
    cmd->add_option("--problem", problem, "Only this problem id (needs --task when ids repeat across tasks)");
    cmd->add_option("--sample", sample, "Only this sample index");
    cmd->add_option("--verdict", verdicts,
                    "Only samples with these verdicts: correct, wrong, no_answer, compile_error, runtime_error, "
                    "time_limit, memory_limit, output_limit, infra_error, ungraded")
        ->delimiter(',');
    cmd->add_flag("--truncated", truncated, "Only samples that stopped at the length limit");
  }
  SampleQuery query() const {
    SampleQuery q;
    q.task = task;
    q.problem_id = problem;
    q.sample_index = sample;
    q.statuses = verdicts;
    q.truncated_only = truncated;
    return q;
  }
};

// Streams to `path` ("" or "-": stdout), reporting rows and bytes on stderr when writing a file.
void run_export(const std::string& db, SampleExportOptions options, const std::string& path) {
  auto store = open_existing_store(db);
  if (path.empty() || path == "-") {
    std::ios::sync_with_stdio(false);
    export_samples(*store, options, std::cout);
    return;
  }
  std::ofstream out(path, std::ios::binary);
  if (!out) throw Error(path + ": field 'output': cannot open for writing");
  auto stats = export_samples(*store, options, out);
  out.close();
  if (!out) throw Error(path + ": write failed");
  std::fprintf(stderr, "reval: wrote %lld samples (%.1f MB) to %s\n", static_cast<long long>(stats.rows),
               static_cast<double>(stats.bytes) / 1e6, path.c_str());
}

}  // namespace

void add_sample_commands(CLI::App& app, int& status) {
  {
    struct Opts {
      std::string db = "reval.db", format = "text", output;
      std::vector<std::string> runs;
      Filters filters;
      std::int64_t max_chars = 0;
      bool no_prompt = false;
    };
    auto o = std::make_shared<Opts>();
    auto* cmd = app.add_subcommand(
        "samples", "Show stored samples: prompt, completion, extracted answer, gold, verdict, grader details, tokens");
    cmd->add_option("--db", o->db, "SQLite results file")->capture_default_str();
    cmd->add_option("--run", o->runs, "Run name or id (repeat or comma-separate for several)")
        ->required()
        ->delimiter(',');
    o->filters.add(cmd);
    cmd->add_option("--format", o->format, "text | jsonl")
        ->check(CLI::IsMember({"text", "jsonl"}))
        ->capture_default_str();
    cmd->add_option("--max-chars", o->max_chars,
                    "Cut completions longer than this many characters (first quarter, last three quarters); 0: whole")
        ->check(CLI::NonNegativeNumber)
        ->capture_default_str();
    cmd->add_flag("--no-prompt", o->no_prompt, "Leave the prompts out");
    cmd->add_option("--output,-o", o->output, "Output file (default stdout)");
    cmd->callback([o] {
      SampleExportOptions e;
      e.runs = o->runs;
      e.query = o->filters.query();
      e.format = sample_format_from_string(o->format);
      e.max_chars = o->max_chars;
      e.prompts = !o->no_prompt;
      run_export(o->db, e, o->output);
    });
  }
  {
    struct Opts {
      std::string db = "reval.db", format = "jsonl", output;
      std::vector<std::string> runs;
      Filters filters;
      bool no_prompt = false;
    };
    auto o = std::make_shared<Opts>();
    auto* cmd = app.add_subcommand(
        "export", "Export one row per sample (everything `reval samples` shows) as JSONL or CSV, streamed");
    cmd->add_option("--db", o->db, "SQLite results file")->capture_default_str();
    cmd->add_option("--run", o->runs, "Run name or id (repeat or comma-separate for several)")
        ->required()
        ->delimiter(',');
    cmd->add_option("--format", o->format, "jsonl | csv")->check(CLI::IsMember({"jsonl", "csv"}))->capture_default_str();
    cmd->add_option("--output,-o", o->output, "Output file (default stdout)");
    o->filters.add(cmd);
    cmd->add_flag("--no-prompt", o->no_prompt, "Leave the prompt column empty (smaller files)");
    cmd->callback([o] {
      SampleExportOptions e;
      e.runs = o->runs;
      e.query = o->filters.query();
      e.format = sample_format_from_string(o->format);
      e.prompts = !o->no_prompt;
      run_export(o->db, e, o->output);
    });
  }
  (void)status;
}

}  // namespace reval::cli
