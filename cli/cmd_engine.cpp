// `reval generate`: run the native engine on one prompt and stream the completion to stdout.
//
// Theory of operation: the command opens an engine Session on the model folder — the same object the native
// backend of `reval eval` uses (model/engine/session.hpp): model, tokenizer, chat template, one Engine with its
// scheduler thread and paged KV cache — and submits one request with one sample. Text arrives through the
// session's streaming callback as it becomes final (never half a UTF-8 character) and is written at once. With
// --chat the prompt is rendered as a user turn with the model's chat template; without, it is tokenized as a plain
// completion (post-processor applied, e.g. BOS). The sampling defaults come from the model's
// generation_config.json when it asks for sampling, else greedy. A summary line (token counts, finish reason,
// speed) goes to stderr. --model may be a Hugging Face Hub id: it is resolved to its cached download first
// (model/hub.hpp's resolve_model_dir).
#include <cstdio>

#include <fmt/core.h>

#include "base/error.hpp"
#include "cli/cli.hpp"
#include "model/engine/session.hpp"
#include "model/hub.hpp"

namespace reval::cli {

namespace {

struct GenerateArgs {
  std::string model, prompt, chat_template, dtype = "auto", kv_memory;
  std::string hub_url, revision;  // for a hub id in --model
  bool chat = false;
  double temperature = -1, top_p = -1, min_p = -1;
  int top_k = -1, threads = 0;
  std::int64_t max_new_tokens = 256;
  std::uint64_t seed = 0;
};

int run_generate(const GenerateArgs& args) {
  using namespace reval::engine;
  GenerateArgs a = args;
  HubOptions hub;
  hub.hub_url = a.hub_url;
  if (!a.revision.empty()) hub.revision = a.revision;
  a.model = resolve_model_dir(a.model, hub);  // a folder unchanged; "org/name" downloaded into the cache
  SessionOptions so;
  so.dtype = a.dtype;
  so.chat_template_file = a.chat ? a.chat_template : "";
  so.engine.threads = a.threads;
  if (!a.kv_memory.empty()) so.engine.kv_memory = parse_memory_size(a.kv_memory);
  so.engine.max_running = 1;
  Session session(a.model, so);
  TextRequest tr;
  tr.prompt = a.chat ? session.chat_prompt(nlohmann::json::array({{{"role", "user"}, {"content", a.prompt}}}))
                     : session.completion_prompt(a.prompt);
  const GenerationConfig& g = session.model()->generation_config();
  const bool sample = g.do_sample;
  tr.sampler.temperature = a.temperature >= 0 ? a.temperature : (sample ? g.temperature.value_or(1.0) : 0.0);
  tr.sampler.top_p = a.top_p >= 0 ? a.top_p : (sample ? g.top_p.value_or(1.0) : 1.0);
  tr.sampler.top_k = a.top_k >= 0 ? a.top_k : (sample ? static_cast<int>(g.top_k.value_or(0)) : 0);
  tr.sampler.min_p = a.min_p >= 0 ? a.min_p : (sample ? g.min_p.value_or(0.0) : 0.0);
  if (!(tr.sampler.top_p > 0 && tr.sampler.top_p <= 1)) throw Error("generate: --top-p must be in (0, 1]");
  tr.max_new_tokens = a.max_new_tokens;
  tr.seeds = {a.seed};
  tr.on_text = [](std::size_t, std::string_view text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
  };
  const auto out = session.generate(tr);
  std::fputc('\n', stdout);
  std::fflush(stdout);
  const TextResult& r = out.at(0);
  if (r.finish == Finish::error) throw Error("generate: " + r.error);
  const double prefill_s = r.first_token_s, decode_s = r.latency_s - r.first_token_s;
  const std::size_t n_prompt = tr.prompt.size();
  const auto n_out = r.completion_tokens;
  std::fprintf(stderr, "[%zu prompt tokens, %lld generated, finish=%s, prefill %.1f tok/s, decode %.1f tok/s, %s]\n",
               n_prompt, static_cast<long long>(n_out), to_string(r.finish),
               prefill_s > 0 ? n_prompt / prefill_s : 0.0, decode_s > 0 && n_out > 1 ? (n_out - 1) / decode_s : 0.0,
               session.engine().device().c_str());
  return 0;
}

}  // namespace

void add_engine_commands(CLI::App& app, int& status) {
  auto args = std::make_shared<GenerateArgs>();
  CLI::App* cmd = app.add_subcommand("generate", "Generate a completion for one prompt with the native engine (CPU)");
  cmd->add_option("--model", args->model,
                  "Model folder (config.json, safetensors, tokenizer.json) or Hugging Face Hub id org/name[@rev]")
      ->required();
  cmd->add_option("--hub-url", args->hub_url,
                  "Hugging Face Hub for a hub id (default $HF_ENDPOINT or huggingface.co)");
  cmd->add_option("--revision", args->revision, "Hub branch, tag or commit (default main)");
  cmd->add_option("--prompt", args->prompt, "Prompt text")->required();
  cmd->add_flag("--chat", args->chat, "Render the prompt as a user turn with the model's chat template");
  cmd->add_option("--chat-template", args->chat_template, "Chat template file overriding the model's (with --chat)");
  cmd->add_option("--temperature", args->temperature, "Sampling temperature (0 = greedy; default from generation_config)");
  cmd->add_option("--top-p", args->top_p, "Nucleus sampling mass (1 = off)");
  cmd->add_option("--top-k", args->top_k, "Keep the k most likely tokens (0 = off)");
  cmd->add_option("--min-p", args->min_p, "Drop tokens below min_p times the top probability (0 = off)");
  cmd->add_option("--max-new-tokens", args->max_new_tokens, "Maximum number of generated tokens")->capture_default_str();
  cmd->add_option("--seed", args->seed, "Sampling seed")->capture_default_str();
  cmd->add_option("--threads", args->threads, "CPU threads (0 = all)");
  cmd->add_option("--kv-memory", args->kv_memory, "KV cache budget, e.g. 1GiB (default: min(4 GiB, RAM / 4, 2^20 positions))");
  cmd->add_option("--dtype", args->dtype, "Weight handling: auto (stored dtype) or f32 (convert at load)")
      ->check(CLI::IsMember({"auto", "f32"}));
  cmd->callback([args, &status] { status = run_generate(*args); });
}

}  // namespace reval::cli
