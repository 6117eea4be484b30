// `reval eval` and `reval regrade`: parse options into EvalOptions / RegradeOptions and run them. SIGINT/SIGTERM
// stop starting new requests and end the samples in flight; what was generated is stored, and the same command
// resumes.
#include <csignal>
#include <cstdio>

#include <fmt/format.h>

#include "cli/cli.hpp"
#include "harness/eval.hpp"
#include "results/report.hpp"
#include "results/store.hpp"

namespace reval::cli {

namespace {
std::atomic<bool> g_stop{false};
extern "C" void on_signal(int) { g_stop.store(true); }

template <typename T>
void optional_flag(CLI::App* sub, const std::string& name, std::optional<T>& target, const std::string& help) {
  sub->add_option_function<T>(name, [&target](const T& v) { target = v; }, help);
}
}  // namespace

void add_eval_commands(CLI::App& app, int& status) {
  auto opts = std::make_shared<EvalOptions>();
  auto* eval = app.add_subcommand("eval", "Generate k samples per problem, grade and store them (resumable)");
  std::string tasks_csv;
  eval->add_option("--model", opts->model,
                   "Model: checkpoint dir or hub id org/name[@rev] (native), served name (openai), label (replay)");
  eval->add_option("--backend", opts->backend, "native | openai | replay")
      ->check(CLI::IsMember({"native", "openai", "replay"}))
      ->capture_default_str();
  eval->add_option("--tasks", opts->tasks, "Comma-separated tasks (see `reval tasks`)")->delimiter(',');
  eval->add_option("--suite", opts->suite, "Suite preset name or file (e.g. r1): tasks, k and sampling");
  eval->add_option("--samples,-k", opts->samples, "Samples per problem (default: preset or task default)");
  eval->add_option("--db", opts->db, "SQLite results file")->capture_default_str();
  eval->add_option("--run-name", opts->run_name, "Run label (default: <model basename>-<backend>)");
  optional_flag(eval, "--temperature", opts->temperature, "Sampling temperature (default 0.6; 0 = greedy)");
  optional_flag(eval, "--top-p", opts->top_p, "Nucleus sampling (default 0.95)");
  optional_flag(eval, "--top-k", opts->top_k, "Top-k sampling (default off)");
  optional_flag(eval, "--min-p", opts->min_p, "Min-p sampling (default off)");
  optional_flag(eval, "--max-new-tokens", opts->max_new_tokens, "Most new tokens per sample (default 32768)");
  optional_flag(eval, "--seed", opts->seed, "Run seed; per-sample seeds derive from it (default 0)");
  eval->add_option("--limit", opts->limit, "Only the first N problems of each task");
  eval->add_option("--concurrency", opts->concurrency, "Requests in flight (default: the backend's)");
  eval->add_option("--data-dir", opts->data_dir, "Benchmark data folder (default $REVAL_DATA or the user cache)");
  eval->add_option("--prompt-template", opts->prompt_template, "File overriding the tasks' prompt");
  eval->add_flag("--accept-data-release", opts->accept_data_release,
                 "Evaluate data files whose problem count differs from the official release");
  eval->add_option("--chat-template", opts->backend_options.chat_template, "File overriding the model's chat template");
  eval->add_option("--responses", opts->backend_options.replay_file, "replay: JSONL of completions");
  eval->add_option("--base-url", opts->backend_options.base_url, "openai: server URL")->capture_default_str();
  eval->add_option("--endpoint", opts->backend_options.endpoint, "openai: chat | completions")
      ->check(CLI::IsMember({"chat", "completions"}))
      ->capture_default_str();
  eval->add_option("--api-key-env", opts->backend_options.api_key_env, "openai: environment variable holding the API key")
      ->capture_default_str();
  eval->add_option("--max-retries", opts->backend_options.max_retries, "openai: retries per request")->capture_default_str();
  eval->add_option("--request-timeout", opts->backend_options.timeout_s, "openai: seconds per request")
      ->capture_default_str();
  eval->add_option("--threads", opts->backend_options.threads, "native: CPU threads (default: all cores)");
  eval->add_option_function<std::string>(
      "--kv-memory", [opts](const std::string& v) { opts->backend_options.native["kv_memory"] = v; },
      "native: KV cache budget, e.g. 4GiB or 512MiB (default: min(4 GiB, RAM / 4, 2^20 positions))");
  eval->add_option("--hub-url", opts->hub.hub_url,
                   "native: Hugging Face Hub for org/name models (default $HF_ENDPOINT or huggingface.co)");
  eval->add_option("--revision", opts->hub.revision, "native: hub branch, tag or commit (default main)");
  eval->add_flag("!--no-progress", opts->progress, "No progress line on stderr");
  eval->callback([opts, &status] {
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    EvalStats stats = run_eval(*opts, &g_stop);
    std::fprintf(stderr,
                 "reval: run %lld: %lld samples expected, %lld already stored, %lld generated (%lld failed), "
                 "%lld graded\n",
                 static_cast<long long>(stats.run_id), static_cast<long long>(stats.expected),
                 static_cast<long long>(stats.already_stored), static_cast<long long>(stats.generated),
                 static_cast<long long>(stats.generation_errors), static_cast<long long>(stats.graded));
    auto store = open_sqlite_store(opts->db);
    std::fputs(format_run_summary(*store, stats.run_id).c_str(), stdout);
    if (stats.interrupted) {
      std::fprintf(stderr, "reval: interrupted; run the same command again to resume\n");
      status = 130;
    } else if (stats.generation_errors > 0) {
      std::fprintf(stderr, "reval: %lld samples failed to generate (infra_error); the first: %s\nreval: run again to retry them\n",
                   static_cast<long long>(stats.generation_errors), stats.first_generation_error.c_str());
      status = 3;
    }
  });

  auto ropts = std::make_shared<RegradeOptions>();
  auto* regrade_cmd = app.add_subcommand("regrade", "Re-grade stored samples with the current graders");
  regrade_cmd->add_option("--db", ropts->db, "SQLite results file")->required();
  regrade_cmd->add_option("--runs", ropts->runs, "Runs (names or ids; default all)")->delimiter(',');
  regrade_cmd->add_option("--tasks", ropts->tasks, "Tasks (default all)")->delimiter(',');
  regrade_cmd->add_option("--threads", ropts->threads, "Grading threads (default: all cores)");
  regrade_cmd->add_flag("!--no-progress", ropts->progress, "No progress line on stderr");
  regrade_cmd->callback([ropts] {
    std::int64_t n = regrade(*ropts);
    std::fprintf(stderr, "reval: re-graded %lld samples\n", static_cast<long long>(n));
  });
}

}  // namespace reval::cli
