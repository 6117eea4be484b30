// Session (see session.hpp).
#include "model/engine/session.hpp"

#include <algorithm>
#include <filesystem>

#include "base/error.hpp"
#include "model/engine/config.hpp"

namespace reval::engine {

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

Session::Session(const std::string& dir, const SessionOptions& o) : dir_(dir) {
  model_ = Model::load(dir, LoadOptions{o.dtype});
  const std::string tok_path = dir + "/tokenizer.json";
  if (!std::filesystem::exists(tok_path)) throw Error(dir + ": no tokenizer.json (the native engine needs one)");
  tokenizer_ = Tokenizer::from_file(tok_path);
  template_ = load_chat_template(dir, o.chat_template_file);
  stop_ids_ = stop_token_ids(*model_, tokenizer_.get());
  vocab_limit_ = sampling_vocab_limit(*model_, tokenizer_.get());
  engine_ = std::make_unique<Engine>(model_, o.engine);
}

std::string Session::chat_template_id() const { return template_ ? template_->source_hash() : "plain-concat"; }

std::vector<TokenId> Session::chat_prompt(const nlohmann::json& messages) const {
  std::vector<TokenId> ids;
  if (template_) {
    ids = tokenizer_->encode(template_->render(messages, true), false);
  } else {
    std::string text;
    bool first = true;
    for (const auto& m : messages) {
      if (!first) text += '\n';
      text += m.value("content", std::string());
      first = false;
    }
    ids = tokenizer_->encode(text, true);
  }
  if (ids.empty()) {
    if (auto b = tokenizer_->bos_id()) ids.push_back(*b);
    else throw Error("the prompt tokenizes to nothing and the tokenizer has no BOS token");
  }
  return ids;
}

std::vector<TokenId> Session::completion_prompt(const std::string& text) const {
  std::vector<TokenId> ids = tokenizer_->encode(text, true);
  if (ids.empty()) {
    if (auto b = tokenizer_->bos_id()) ids.push_back(*b);
    else throw Error("the prompt tokenizes to nothing and the tokenizer has no BOS token");
  }
  return ids;
}

std::vector<TextResult> Session::generate(const TextRequest& tr) {
  const std::size_t k = tr.seeds.size();
  struct TextState {
    IncrementalDecoder decoder;
    std::string text;
    std::size_t emitted = 0;  // bytes of text passed to on_text
    bool cut = false;         // a stop string ended the sample
  };
  std::vector<TextState> states;
  states.reserve(k);
  for (std::size_t i = 0; i < k; ++i) states.push_back(TextState{IncrementalDecoder(tokenizer_, true), {}, 0, false});
  std::size_t hold = 0;  // bytes held back from streaming: a stop string may still begin there
  for (const auto& s : tr.stop) hold = std::max(hold, s.empty() ? 0 : s.size() - 1);
  std::vector<TextResult> results(k);

  auto emit = [&](std::size_t i, bool final) {
    TextState& s = states[i];
    if (!tr.on_text) return;
    std::size_t upto = s.text.size();
    if (!final && hold > 0) {
      upto = upto > hold ? upto - hold : 0;
      while (upto > s.emitted && (static_cast<unsigned char>(s.text[upto]) & 0xC0) == 0x80) --upto;  // whole chars
    }
    if (upto > s.emitted) {
      tr.on_text(i, std::string_view(s.text).substr(s.emitted, upto - s.emitted));
      s.emitted = upto;
    }
  };

  Request r;
  r.prompt = tr.prompt;
  r.seeds = tr.seeds;
  r.sampler = tr.sampler;
  r.max_new_tokens = tr.max_new_tokens;
  r.stop_tokens = stop_ids_;
  r.vocab_limit = vocab_limit_;
  r.cancel = tr.cancel;
  r.on_token = [&](std::size_t i, TokenId t) {
    TextState& s = states[i];
    const std::size_t before = s.text.size();
    s.text += s.decoder.push(t);
    for (const auto& stop : tr.stop) {
      if (stop.empty()) continue;
      const std::size_t from = before >= stop.size() ? before - stop.size() + 1 : 0;
      const std::size_t pos = s.text.find(stop, from);
      if (pos != std::string::npos) {
        s.text.resize(pos);
        s.cut = true;
        return false;
      }
    }
    emit(i, false);
    return true;
  };
  r.on_finish = [&](std::size_t i, const SampleResult& o) {
    TextState& s = states[i];
    if (!s.cut && o.finish != Finish::error && o.finish != Finish::cancelled) s.text += s.decoder.flush();
    TextResult& t = results[i];
    t.prompt_tokens = o.prompt_tokens;
    t.completion_tokens = o.completion_tokens();
    t.finish = o.finish;
    t.first_token_s = o.first_token_s;
    t.latency_s = o.latency_s;
    t.error = o.error;
    if (o.finish == Finish::error || o.finish == Finish::cancelled) {
      t.text.clear();
    } else {
      emit(i, true);
      t.text = s.text;
    }
    if (tr.on_sample) tr.on_sample(i, t);
  };
  engine_->generate(r);
  return results;
}

}  // namespace reval::engine
