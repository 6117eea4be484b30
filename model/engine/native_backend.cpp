// Native backend (see native_backend.hpp).
#include "model/engine/native_backend.hpp"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <mutex>

#include "model/engine/generator.hpp"
#include "base/error.hpp"
#include "reval/version.hpp"

namespace reval {

NativeOptions native_options_from_json(const nlohmann::json& j, NativeOptions o) {
  if (!j.is_object()) return o;
  try {
    if (j.contains("threads")) o.threads = j["threads"].get<int>();
    if (j.contains("max_batch")) o.max_batch = j["max_batch"].get<int>();
    if (j.contains("dtype")) o.dtype = j["dtype"].get<std::string>();
    if (j.contains("prefill_chunk")) o.prefill_chunk = j["prefill_chunk"].get<std::int64_t>();
    if (j.contains("chat_template")) o.chat_template_file = j["chat_template"].get<std::string>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("native backend options: ") + e.what());
  }
  return o;
}

namespace engine {

std::shared_ptr<const ChatTemplate> load_chat_template(const std::string& dir, const std::string& override_file) {
  namespace fs = std::filesystem;
  if (!override_file.empty()) return ChatTemplate::from_model_dir(dir, override_file);
  bool has = fs::exists(dir + "/chat_template.jinja");
  if (!has && fs::exists(dir + "/tokenizer_config.json")) {
    try {
      auto j = nlohmann::json::parse(read_file(dir + "/tokenizer_config.json"));
      has = j.is_object() && j.contains("chat_template") && !j["chat_template"].is_null();
    } catch (const nlohmann::json::exception& e) {
      throw Error(dir + "/tokenizer_config.json: invalid JSON: " + e.what());
    }
  }
  if (!has) return nullptr;
  return ChatTemplate::from_model_dir(dir, "");
}

std::vector<TokenId> stop_token_ids(const Model& model, const Tokenizer* tokenizer) {
  std::vector<TokenId> out;
  auto add = [&](std::int64_t id) {
    if (id >= 0 && id < model.vocab_rows() && std::find(out.begin(), out.end(), id) == out.end())
      out.push_back(static_cast<TokenId>(id));
  };
  for (auto id : model.generation_config().eos_token_ids) add(id);
  for (auto id : model.config().eos_token_ids) add(id);
  if (tokenizer)
    if (auto e = tokenizer->eos_id()) add(*e);
  return out;
}

std::int64_t sampling_vocab_limit(const Model& model, const Tokenizer* tokenizer) {
  std::int64_t n = model.vocab_rows();
  if (tokenizer && tokenizer->vocab_size() > 0) n = std::min<std::int64_t>(n, tokenizer->vocab_size());
  return n;
}

std::vector<TokenId> prompt_tokens(const std::vector<ChatMessage>& messages, const ChatTemplate* tmpl,
                                   const Tokenizer& tokenizer) {
  if (tmpl) {
    nlohmann::json msgs = nlohmann::json::array();
    for (const auto& m : messages) msgs.push_back({{"role", m.role}, {"content", m.content}});
    return tokenizer.encode(tmpl->render(msgs, true), false);
  }
  std::string text;
  for (std::size_t i = 0; i < messages.size(); ++i) text += (i ? "\n" : "") + messages[i].content;
  return tokenizer.encode(text, true);
}

}  // namespace engine

namespace {

using engine::TokenId;

class NativeBackend final : public Backend {
 public:
  NativeBackend(const std::string& dir, const NativeOptions& o) : dir_(dir), options_(o) {
    model_ = engine::Model::load(dir, engine::LoadOptions{o.dtype});
    const std::string tok_path = dir + "/tokenizer.json";
    if (!std::filesystem::exists(tok_path)) throw Error(dir + ": no tokenizer.json (the native backend needs one)");
    tokenizer_ = Tokenizer::from_file(tok_path);
    template_ = engine::load_chat_template(dir, o.chat_template_file);
    stop_ids_ = engine::stop_token_ids(*model_, tokenizer_.get());
    vocab_limit_ = engine::sampling_vocab_limit(*model_, tokenizer_.get());
    generator_ = std::make_unique<engine::Generator>(model_, o.threads);
  }

  BackendInfo info() const override {
    BackendInfo i;
    i.backend = "native";
    i.model = dir_;
    i.model_hash = model_->content_hash();
    i.engine_version = std::string("reval-native ") + kVersion + " (cpu fp32 over " + model_->weights_dtype() + ")";
    i.device = "cpu (" + std::to_string(generator_->threads()) + " threads)";
    i.chat_template_id = template_ ? template_->source_hash() : "plain-concat";
    return i;
  }

  std::vector<Completion> generate(const GenerationRequest& request,
                                   const std::function<void(const Completion&)>& on_sample) override {
    const SamplingParams& sp = request.sampling;
    if (!(sp.top_p > 0.0 && sp.top_p <= 1.0)) throw Error("native backend: top_p must be in (0, 1]");
    if (sp.top_k < 0) throw Error("native backend: top_k must be >= 0");
    if (sp.min_p < 0.0 || sp.min_p > 1.0) throw Error("native backend: min_p must be in [0, 1]");
    std::lock_guard<std::mutex> lock(mutex_);
    const auto t0 = std::chrono::steady_clock::now();
    const std::size_t n = request.sample_indices.size();
    std::vector<Completion> out(n);
    std::vector<std::uint64_t> seeds(n);
    for (std::size_t i = 0; i < n; ++i) {
      out[i].sample_index = request.sample_indices[i];
      out[i].seed = seeds[i] = sample_seed(sp.seed, request.task, request.problem_id, request.sample_indices[i]);
    }
    std::vector<bool> reported(n, false);
    auto fail_all = [&](const std::string& what) {
      const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      for (std::size_t i = 0; i < n; ++i) {
        if (reported[i]) continue;
        Completion& c = out[i];
        c.error = what;
        c.finish = FinishReason::error;
        c.text.clear();
        c.latency_s = dt;
        if (on_sample) on_sample(c);
      }
      return out;
    };
    std::vector<TokenId> prompt;
    try {
      prompt = engine::prompt_tokens(request.messages, template_.get(), *tokenizer_);
    } catch (const std::exception& e) {
      return fail_all(std::string("prompt rendering/tokenization failed: ") + e.what());
    }
    if (prompt.empty()) {
      if (auto b = tokenizer_->bos_id()) prompt.push_back(*b);
      else return fail_all("empty prompt");
    }
    engine::GenerateParams gp;
    gp.sampler = {sp.temperature, sp.top_p, sp.top_k, sp.min_p};
    gp.max_new_tokens = sp.max_new_tokens;
    gp.stop_tokens = stop_ids_;
    gp.max_batch = options_.max_batch;
    gp.vocab_limit = vocab_limit_;
    gp.prefill_chunk = options_.prefill_chunk;
    struct TextState {
      IncrementalDecoder decoder;
      std::string text;
      bool cut = false;
    };
    std::vector<TextState> text;
    text.reserve(n);
    for (std::size_t i = 0; i < n; ++i) text.push_back(TextState{IncrementalDecoder(tokenizer_, true), {}, false});
    auto on_token = [&](std::size_t i, TokenId t) {
      TextState& s = text[i];
      const std::size_t before = s.text.size();
      s.text += s.decoder.push(t);
      for (const auto& stop : sp.stop) {
        if (stop.empty()) continue;
        const std::size_t from = before >= stop.size() ? before - stop.size() + 1 : 0;
        const std::size_t pos = s.text.find(stop, from);
        if (pos != std::string::npos) {
          s.text.resize(pos);
          s.cut = true;
          return false;
        }
      }
      return true;
    };
    auto on_finish = [&](std::size_t i, const engine::SampleOutput& o) {
      TextState& s = text[i];
      if (!s.cut) s.text += s.decoder.flush();
      Completion& c = out[i];
      c.text = s.text;
      c.prompt_tokens = static_cast<std::int64_t>(prompt.size());
      c.completion_tokens = o.completion_tokens();
      c.finish = o.finish;
      c.latency_s = o.latency_s;
      reported[i] = true;
      if (on_sample) on_sample(c);
    };
    try {
      generator_->generate(prompt, seeds, gp, on_token, on_finish);
    } catch (const std::exception& e) {
      return fail_all(std::string("native generation failed: ") + e.what());
    }
    return out;
  }

 private:
  std::string dir_;
  NativeOptions options_;
  std::shared_ptr<const engine::Model> model_;
  std::shared_ptr<const Tokenizer> tokenizer_;
  std::shared_ptr<const ChatTemplate> template_;
  std::vector<TokenId> stop_ids_;
  std::int64_t vocab_limit_ = 0;
  std::unique_ptr<engine::Generator> generator_;
  std::mutex mutex_;
};

}  // namespace

std::unique_ptr<Backend> make_native_backend(const std::string& model_dir, const NativeOptions& options) {
  return std::make_unique<NativeBackend>(model_dir, options);
}

}  // namespace reval
