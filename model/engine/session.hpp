// Session: a model folder opened for text generation — model, tokenizer, chat template and one Engine — used by
// both the native backend (model/backends/native_backend.hpp) and `reval generate`.
//
// Theory of operation: the Session loads the checkpoint (Model), tokenizer.json and the chat template once and
// starts an Engine. Prompts: chat_prompt() renders messages with the model's chat template (or the override file)
// with add_generation_prompt=true and tokenizes without adding special tokens (the template writes BOS itself); a
// folder without any chat template (e.g. tinystories-656k) joins the message contents with "\n" and tokenizes
// WITH special tokens, like completion_prompt(). Stop tokens are the union of generation_config.json's and
// config.json's eos ids and the tokenizer's eos token; sampling is restricted to ids below the tokenizer's
// vocabulary (padded embedding rows masked). generate() turns a TextRequest into an engine Request whose token
// callback decodes incrementally (special tokens skipped, never half a UTF-8 character) and ends a sample as soon
// as its text contains a stop string (the text is cut before it); streamed text is held back while it could still
// become the start of a stop string. Many threads may call generate() at once: their requests share the engine's
// scheduler, and each sample's text callbacks run on the engine thread.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/chat/chat_template.hpp"
#include "model/engine/engine.hpp"
#include "model/tokenizer/tokenizer.hpp"

namespace reval::engine {

struct SessionOptions {
  EngineOptions engine;
  std::string dtype = "auto";          // auto (compute over stored bf16/f16/f32) | f32 (convert at load)
  std::string chat_template_file;      // overrides the model folder's chat template
};

struct TextResult {
  std::string text;                    // decoded completion, cut before a stop string
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;  // generated tokens, a final stop token included
  Finish finish = Finish::length;
  double first_token_s = 0.0, latency_s = 0.0;
  std::string error;                   // finish == error
};

struct TextRequest {
  std::vector<TokenId> prompt;
  std::vector<std::uint64_t> seeds;    // one sample per seed
  SamplerConfig sampler;
  std::int64_t max_new_tokens = 256;
  std::vector<std::string> stop;       // stop strings
  const std::atomic<bool>* cancel = nullptr;
  // Streamed text of a sample as it becomes final (engine thread; must be quick).
  std::function<void(std::size_t sample, std::string_view text)> on_text;
  // A sample's result as soon as it finishes (engine thread, or the caller's for an empty request).
  std::function<void(std::size_t sample, const TextResult& result)> on_sample;
};

class Session {
 public:
  explicit Session(const std::string& model_dir, const SessionOptions& options = {});
  const std::string& model_dir() const { return dir_; }
  std::shared_ptr<const Model> model() const { return model_; }
  std::shared_ptr<const Tokenizer> tokenizer() const { return tokenizer_; }
  const ChatTemplate* chat_template() const { return template_.get(); }
  std::string chat_template_id() const;  // the template's hash, or "plain-concat"
  const std::vector<TokenId>& stop_tokens() const { return stop_ids_; }
  std::int64_t vocab_limit() const { return vocab_limit_; }
  Engine& engine() { return *engine_; }

  // [{role, content}, ...] -> prompt ids (see the header comment). Throws reval::Error when the prompt is empty
  // and the tokenizer has no BOS to stand in for it.
  std::vector<TokenId> chat_prompt(const nlohmann::json& messages) const;
  std::vector<TokenId> completion_prompt(const std::string& text) const;

  // Thread-safe; blocks until every sample has finished. Throws reval::Error for an invalid request (see
  // Engine::submit).
  std::vector<TextResult> generate(const TextRequest& request);

 private:
  std::string dir_;
  std::shared_ptr<const Model> model_;
  std::shared_ptr<const Tokenizer> tokenizer_;
  std::shared_ptr<const ChatTemplate> template_;
  std::vector<TokenId> stop_ids_;
  std::int64_t vocab_limit_ = 0;
  std::unique_ptr<Engine> engine_;
};

// The model folder's chat template (override_file wins), or nullptr when the folder has none and no override.
std::shared_ptr<const ChatTemplate> load_chat_template(const std::string& model_dir, const std::string& override_file);
// eos ids from generation_config.json and config.json plus the tokenizer's eos, deduplicated.
std::vector<TokenId> stop_token_ids(const Model& model, const Tokenizer* tokenizer);
// Sampling is restricted to ids below this: min(embedding rows, tokenizer vocabulary).
std::int64_t sampling_vocab_limit(const Model& model, const Tokenizer* tokenizer);

}  // namespace reval::engine
