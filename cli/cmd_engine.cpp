// `reval generate`: run the native engine on one prompt and stream the completion to stdout. (The "native" backend
// of `reval eval` is registered with the backend factory by harness/runtime.cpp.)
//
// Theory of operation: the command loads the model, tokenizer and (with --chat) chat template exactly like the
// native backend does (same helpers from model/engine/native_backend.hpp), then drives engine::Generator with a
// single sample and prints text as each token arrives through an IncrementalDecoder, so partial UTF-8 is never
// written. Without --chat the prompt is tokenized as a plain completion (post-processor applied, e.g. BOS). The
// sampling defaults come from the model's generation_config.json when it asks for sampling, else greedy.
// A summary line (token counts, finish reason, speed) goes to stderr. --model may be a Hugging Face Hub id: it is
// resolved to its cached download first (model/hub.hpp's resolve_model_dir).
#include <chrono>
#include <cstdio>

#include <fmt/core.h>

#include "cli/cli.hpp"
#include "model/engine/generator.hpp"
#include "model/engine/native_backend.hpp"
#include "model/hub.hpp"
#include "base/error.hpp"

namespace reval::cli {

namespace {

struct GenerateArgs {
  std::string model, prompt, chat_template, dtype = "auto";
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
  auto model = Model::load(a.model, LoadOptions{a.dtype});
  auto tokenizer = Tokenizer::from_file(a.model + "/tokenizer.json");
  std::vector<TokenId> prompt;
  if (a.chat) {
    auto tmpl = load_chat_template(a.model, a.chat_template);
    prompt = prompt_tokens({ChatMessage{"user", a.prompt}}, tmpl.get(), *tokenizer);
  } else {
    prompt = tokenizer->encode(a.prompt, true);
  }
  if (prompt.empty()) {
    if (auto b = tokenizer->bos_id()) prompt.push_back(*b);
    else throw Error("generate: the prompt tokenizes to nothing");
  }
  const GenerationConfig& g = model->generation_config();
  GenerateParams gp;
  const bool sample = g.do_sample;
  gp.sampler.temperature = a.temperature >= 0 ? a.temperature : (sample ? g.temperature.value_or(1.0) : 0.0);
  gp.sampler.top_p = a.top_p >= 0 ? a.top_p : (sample ? g.top_p.value_or(1.0) : 1.0);
  gp.sampler.top_k = a.top_k >= 0 ? a.top_k : (sample ? static_cast<int>(g.top_k.value_or(0)) : 0);
  gp.sampler.min_p = a.min_p >= 0 ? a.min_p : (sample ? g.min_p.value_or(0.0) : 0.0);
  if (!(gp.sampler.top_p > 0 && gp.sampler.top_p <= 1)) throw Error("generate: --top-p must be in (0, 1]");
  gp.max_new_tokens = a.max_new_tokens;
  gp.stop_tokens = stop_token_ids(*model, tokenizer.get());
  gp.vocab_limit = sampling_vocab_limit(*model, tokenizer.get());
  gp.max_batch = 1;
  Generator gen(model, a.threads);
  IncrementalDecoder decoder(tokenizer, true);
  const auto t0 = std::chrono::steady_clock::now();
  auto t_first = t0;
  bool first = true;
  auto on_token = [&](std::size_t, TokenId t) {
    if (first) {
      t_first = std::chrono::steady_clock::now();
      first = false;
    }
    const std::string s = decoder.push(t);
    std::fwrite(s.data(), 1, s.size(), stdout);
    std::fflush(stdout);
    return true;
  };
  const std::uint64_t seed = a.seed;
  auto out = gen.generate(prompt, {&seed, 1}, gp, on_token);
  const std::string rest = decoder.flush();
  std::fwrite(rest.data(), 1, rest.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
  const auto t1 = std::chrono::steady_clock::now();
  const double prefill_s = std::chrono::duration<double>(t_first - t0).count();
  const double decode_s = std::chrono::duration<double>(t1 - t_first).count();
  const auto n_out = out[0].completion_tokens();
  std::fprintf(stderr, "[%zu prompt tokens, %lld generated, finish=%s, prefill %.1f tok/s, decode %.1f tok/s, %d threads]\n",
               prompt.size(), static_cast<long long>(n_out), to_string(out[0].finish).c_str(),
               prefill_s > 0 ? prompt.size() / prefill_s : 0.0, decode_s > 0 && n_out > 1 ? (n_out - 1) / decode_s : 0.0,
               gen.threads());
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
  cmd->add_option("--dtype", args->dtype, "Weight handling: auto (stored dtype) or f32 (convert at load)")
      ->check(CLI::IsMember({"auto", "f32"}));
  cmd->callback([args, &status] { status = run_generate(*args); });
}

}  // namespace reval::cli
