// `reval eval` and `reval regrade`: parse options into EvalOptions / RegradeOptions and run them. SIGINT/SIGTERM
// stop starting new requests, end the samples in flight (a backend that can stop early drops the unfinished ones)
// and drop queued grading jobs; what was generated is stored, and the same command resumes. A second one exits at
// once.
#include <unistd.h>

#include <csignal>
#include <cstdio>

#include <fmt/format.h>

#include "base/error.hpp"
#include "base/jsonl.hpp"
#include "base/url.hpp"
#include "cli/cli.hpp"
#include "harness/eval.hpp"
#include "results/report.hpp"
#include "results/store.hpp"

namespace reval::cli {

namespace {
std::atomic<bool> g_stop{false};
extern "C" void on_signal(int sig) {
  if (g_stop.exchange(true)) {  // the second Ctrl-C: stop now (rows already committed are kept)
    std::signal(sig, SIG_DFL);
    std::raise(sig);
  }
  static const char msg[] =
      "\nreval: stopping: no new requests; in-flight requests and grading finish (Ctrl-C again to quit now)\n";
  [[maybe_unused]] auto n = write(2, msg, sizeof msg - 1);
}

template <typename T>
void optional_flag(CLI::App* sub, const std::string& name, std::optional<T>& target, const std::string& help) {
  sub->add_option_function<T>(name, [&target](const T& v) { target = v; }, help);
}

// --stop values: "\n", "\t", "\r" and "\\" are the escapes a shell cannot type easily.
std::string unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 == s.size()) {
      out += s[i];
      continue;
    }
    char c = s[++i];
    if (c == 'n') out += '\n';
    else if (c == 't') out += '\t';
    else if (c == 'r') out += '\r';
    else if (c == '\\') out += '\\';
    else out += std::string("\\") + c;
  }
  return out;
}

// One URL per line; blank lines and lines starting with '#' are skipped.
std::vector<std::string> read_url_file(const std::string& path) {
  std::vector<std::string> urls;
  std::string text = read_file(path);
  size_t line_no = 0, pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    ++line_no;
    pos = end + 1;
    const char* ws = " \t\r";
    line.erase(0, line.find_first_not_of(ws));
    if (auto last = line.find_last_not_of(ws); last != std::string::npos) line.erase(last + 1);
    else line.clear();
    if (line.empty() || line[0] == '#') continue;
    try {
      parse_url(line, "base_url");
    } catch (const Error& e) {
      fail_at(path, static_cast<std::int64_t>(line_no), "base_url", e.what());
    }
    urls.push_back(line);
  }
  if (urls.empty()) throw Error(path + ": field 'base_url': no server URL in the file");
  return urls;
}
}  // namespace

void add_eval_commands(CLI::App& app, int& status) {
  auto opts = std::make_shared<EvalOptions>();
  auto* eval = app.add_subcommand("eval", "Generate k samples per problem, grade and store them (resumable)");
  auto stops = std::make_shared<std::vector<std::string>>();
  auto urls = std::make_shared<std::vector<std::string>>();
  auto url_file = std::make_shared<std::string>();
  auto filters = std::make_shared<std::string>();
  auto shard = std::make_shared<std::string>();
  eval->add_option("--model", opts->model,
                   "Model: checkpoint dir or hub id org/name[@rev] (native), served name or checkpoint dir "
                   "(openai), label (replay)");
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
  eval->add_option("--stop", *stops,
                   "Stop string (repeatable; \\n, \\t, \\\\ are escapes); replaces the preset's sampling.stop")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  eval->add_option("--system-prompt", opts->system_prompt,
                   "System message before every prompt, or @FILE (default none, as the R1 protocol; \"\" = none)");
  eval->add_option("--filters", *filters,
                   "Task filters as JSON: {...} for one task, or {\"task\": {...}, ...} (docs/tasks.md)");
  eval->add_option("--shard", *shard, "Evaluate shard I of N (1-based, e.g. 2/4); combine with `reval merge`");
  eval->add_option("--limit", opts->limit, "Only the first N problems of each task");
  eval->add_option("--concurrency", opts->concurrency,
                   "Requests in flight (default: the backend's; openai: 8 per server)");
  eval->add_option("--data-dir", opts->data_dir, "Benchmark data folder (default $REVAL_DATA or the user cache)");
  eval->add_option("--prompt-template", opts->prompt_template, "File overriding the tasks' prompt");
  eval->add_flag("--accept-data-release", opts->accept_data_release,
                 "Evaluate data files whose problem count differs from the official release");
  eval->add_option("--chat-template", opts->backend_options.chat_template, "File overriding the model's chat template");
  eval->add_option("--responses", opts->backend_options.replay_file, "replay: JSONL of completions");
  eval->add_option("--base-url", *urls, "openai: server URL (default http://127.0.0.1:8000/v1; repeatable: requests spread over the servers)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  eval->add_option("--base-url-file", *url_file, "openai: file with one server URL per line (# comments)");
  eval->add_option("--endpoint", opts->backend_options.endpoint, "openai: chat | completions")
      ->check(CLI::IsMember({"chat", "completions"}))
      ->capture_default_str();
  eval->add_option("--served-model-name", opts->backend_options.served_model_name,
                   "openai: model name sent to the server (default: --model, else the server's first model)");
  eval->add_option("--tokenizer", opts->backend_options.tokenizer,
                   "openai: folder with the model's tokenizer.json/tokenizer_config.json (default: --model when it is "
                   "one): exact token counts, completions prompts, BOS handling");
  eval->add_option("--context-length", opts->backend_options.context_length,
                   "openai: the servers' context length (default: max_model_len from GET /models when offered)");
  eval->add_option("--api-key-env", opts->backend_options.api_key_env, "openai: environment variable holding the API key")
      ->capture_default_str();
  eval->add_option("--max-retries", opts->backend_options.max_retries, "openai: retries per request")->capture_default_str();
  eval->add_option("--request-timeout", opts->backend_options.timeout_s, "openai: seconds per request")
      ->capture_default_str();
  eval->add_option("--threads", opts->backend_options.threads, "native: CPU threads (default: all cores)");
  eval->add_option_function<std::string>(
      "--device", [opts](const std::string& v) { opts->backend_options.native["device"] = v; },
      "native: cpu | cuda | cuda:N | auto (default: cuda when a GPU is visible)");
  eval->add_option_function<double>(
      "--gpu-memory", [opts](double v) { opts->backend_options.native["gpu_memory"] = v; },
      "native, cuda: share of the GPU's memory to use (default 0.9)");
  eval->add_option_function<std::string>(
      "--kv-memory", [opts](const std::string& v) { opts->backend_options.native["kv_memory"] = v; },
      "native: KV cache budget, e.g. 4GiB or 512MiB (default: min(4 GiB, RAM / 4, 2^20 positions))");
  eval->add_option("--hub-url", opts->hub.hub_url,
                   "native: Hugging Face Hub for org/name models (default $HF_ENDPOINT or huggingface.co)");
  eval->add_option("--revision", opts->hub.revision, "native: hub branch, tag or commit (default main)");
  eval->add_flag("!--no-progress", opts->progress, "No progress line on stderr");
  eval->callback([opts, stops, urls, url_file, filters, shard, &status] {
    if (!stops->empty()) {
      opts->stop.emplace();
      for (const auto& s : *stops) opts->stop->push_back(unescape(s));
    }
    if (opts->system_prompt && !opts->system_prompt->empty() && (*opts->system_prompt)[0] == '@')
      opts->system_prompt = read_file(opts->system_prompt->substr(1));
    std::vector<std::string> servers = *urls;
    if (!url_file->empty())
      for (auto& u : read_url_file(*url_file)) servers.push_back(std::move(u));
    if (servers.size() == 1) opts->backend_options.base_url = servers.front();
    else if (servers.size() > 1) opts->backend_options.base_urls = servers;
    if (!filters->empty()) {
      try {
        opts->filters = nlohmann::json::parse(*filters);
      } catch (const nlohmann::json::exception& e) {
        throw Error(std::string("--filters: invalid JSON: ") + e.what());
      }
    }
    if (!shard->empty()) opts->shard = parse_shard(*shard);
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
      std::fprintf(stderr,
                   "reval: interrupted: %lld samples stored in %s, %lld graded, %lld left to grade; run the same "
                   "command again to generate the rest and grade what is left\n",
                   static_cast<long long>(stats.stored), opts->db.c_str(), static_cast<long long>(stats.stored_graded),
                   static_cast<long long>(stats.left_to_grade));
      status = 130;
    } else if (stats.generation_errors > 0) {
      std::fprintf(stderr, "reval: %lld samples failed to generate (infra_error); the first: %s\nreval: run again to retry them\n",
                   static_cast<long long>(stats.generation_errors), stats.first_generation_error.c_str());
      status = 3;
    }
    if (opts->shard.active() && !stats.interrupted)
      std::fprintf(stderr, "reval: shard %s done; combine the shards' databases with `reval merge OUT.db IN.db...`\n",
                   opts->shard.label().c_str());
  });

  auto ropts = std::make_shared<RegradeOptions>();
  auto* regrade_cmd = app.add_subcommand("regrade", "Re-grade stored samples with the current graders");
  regrade_cmd->add_option("--db", ropts->db, "SQLite results file")->required();
  regrade_cmd->add_option("--runs", ropts->runs, "Runs (names or ids; default all)")->delimiter(',');
  regrade_cmd->add_option("--tasks", ropts->tasks, "Tasks (default all)")->delimiter(',');
  regrade_cmd->add_option("--threads", ropts->threads, "Grading threads (default: all cores)");
  regrade_cmd->add_flag("--verbose,-v", ropts->list_changes, "List every sample whose verdict changed");
  regrade_cmd->add_flag("!--no-progress", ropts->progress, "No progress line on stderr");
  regrade_cmd->callback([ropts, &status] {
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    RegradeStats s = regrade(*ropts, &g_stop);
    std::string kinds;
    for (const auto& [kind, n] : s.changes_by_kind) kinds += fmt::format("{}{}: {}", kinds.empty() ? "" : ", ", kind, n);
    // --verbose: one line per change on stdout (run, task, sample, verdicts, extracted answers), then the summary.
    for (const auto& c : s.changes)
      std::printf("%s\t%s\t%s#%d\t%s -> %s\t%s -> %s\n", c.run.c_str(), c.key.task.c_str(), c.key.problem_id.c_str(),
                  c.key.sample_index, c.old_verdict.c_str(), c.new_verdict.c_str(),
                  c.old_extracted ? c.old_extracted->c_str() : "-", c.new_extracted ? c.new_extracted->c_str() : "-");
    std::fflush(stdout);
    std::fprintf(stderr, "reval: re-graded %lld samples; %lld verdicts changed%s\n", static_cast<long long>(s.graded),
                 static_cast<long long>(s.changed), kinds.empty() ? "" : (" (" + kinds + ")").c_str());
    if (s.skipped > 0) {
      std::fprintf(stderr, "reval: interrupted: %lld samples not re-graded (they keep their previous grade)\n",
                   static_cast<long long>(s.skipped));
      status = 130;
    }
  });
}

}  // namespace reval::cli
