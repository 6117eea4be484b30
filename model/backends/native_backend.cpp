// Native backend (see native_backend.hpp): an adapter from Backend to engine::Session.
#include "model/backends/native_backend.hpp"

#include <chrono>
#include <mutex>

#include "base/error.hpp"
#include "model/engine/session.hpp"
#include "reval/version.hpp"

namespace reval {

NativeOptions native_options_from_json(const nlohmann::json& j, NativeOptions o) {
  if (j.is_null()) return o;
  if (!j.is_object()) throw Error("native backend options: expected a JSON object");
  std::string field;
  try {
    for (const auto& [key, value] : j.items()) {
      field = key;
      if (key == "threads") o.threads = value.get<int>();
      else if (key == "chat_template") o.chat_template_file = value.get<std::string>();
      else if (key == "dtype") o.dtype = value.get<std::string>();
      else if (key == "kv_memory")
        o.kv_memory = value.is_string() ? engine::parse_memory_size(value.get<std::string>()) : value.get<std::int64_t>();
      else if (key == "block_size") o.block_size = value.get<int>();
      else if (key == "max_running" || key == "max_batch") o.max_running = value.get<int>();
      else if (key == "max_step_tokens") o.max_step_tokens = value.get<std::int64_t>();
      else if (key == "prefix_cache") o.prefix_cache = value.get<bool>();
      else if (key == "max_concurrency") o.max_concurrency = value.get<int>();
      else throw Error("native backend options: unknown field '" + key + "'");
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error("native backend options: field '" + field + "': " + e.what());
  }
  if (o.kv_memory < 0) throw Error("native backend options: field 'kv_memory' must be positive");
  if (o.block_size <= 0) throw Error("native backend options: field 'block_size' must be positive");
  if (o.max_running <= 0) throw Error("native backend options: field 'max_running' must be positive");
  return o;
}

namespace {

class NativeBackend final : public Backend {
 public:
  NativeBackend(const std::string& dir, const NativeOptions& o) : dir_(dir), options_(o) {
    engine::SessionOptions so;
    so.dtype = o.dtype;
    so.chat_template_file = o.chat_template_file;
    so.engine.threads = o.threads;
    so.engine.kv_memory = o.kv_memory;
    so.engine.block_size = o.block_size;
    so.engine.max_running = o.max_running;
    so.engine.max_step_tokens = o.max_step_tokens;
    so.engine.prefix_cache = o.prefix_cache;
    session_ = std::make_unique<engine::Session>(dir, so);
  }

  BackendInfo info() const override {
    BackendInfo i;
    i.backend = "native";
    i.model = dir_;
    i.model_hash = session_->model()->content_hash();
    i.engine_version = std::string("reval-native ") + kVersion + " (cpu fp32 over " +
                       session_->model()->weights_dtype() + ", paged KV " +
                       std::to_string(session_->engine().kv_layout().block_size) + "-token blocks)";
    i.device = session_->engine().device();
    i.chat_template_id = session_->chat_template_id();
    return i;
  }

  int max_concurrency() const override {
    return options_.max_concurrency > 0 ? options_.max_concurrency : session_->engine().options().max_running;
  }

  std::vector<Completion> generate(const GenerationRequest& request,
                                   const std::function<void(const Completion&)>& on_sample) override {
    const SamplingParams& sp = request.sampling;
    const engine::SamplerConfig sampler{sp.temperature, sp.top_p, sp.top_k, sp.min_p};
    try {
      engine::validate(sampler);
    } catch (const Error& e) {
      throw Error(std::string("native backend: ") + e.what());
    }
    const auto t0 = std::chrono::steady_clock::now();
    const std::size_t n = request.sample_indices.size();
    std::vector<Completion> out(n);
    std::vector<std::uint64_t> seeds(n);
    for (std::size_t i = 0; i < n; ++i) {
      out[i].sample_index = request.sample_indices[i];
      out[i].seed = seeds[i] = sample_seed(sp.seed, request.task, request.problem_id, request.sample_indices[i]);
    }
    auto fail_all = [&](const std::string& what) {
      const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      for (Completion& c : out) {
        c.error = what;
        c.finish = FinishReason::error;
        c.latency_s = dt;
        if (on_sample) on_sample(c);
      }
      return out;
    };
    engine::TextRequest tr;
    try {
      nlohmann::json msgs = nlohmann::json::array();
      for (const auto& m : request.messages) msgs.push_back({{"role", m.role}, {"content", m.content}});
      tr.prompt = session_->chat_prompt(msgs);
    } catch (const std::exception& e) {
      return fail_all(std::string("prompt rendering/tokenization failed: ") + e.what());
    }
    tr.seeds = seeds;
    tr.sampler = sampler;
    tr.max_new_tokens = sp.max_new_tokens;
    tr.stop = sp.stop;
    tr.cancel = request.cancel;
    std::vector<char> reported(n, 0);
    std::mutex mu;  // on_sample runs on the engine thread; `out` is read here after generate() returns
    tr.on_sample = [&](std::size_t i, const engine::TextResult& r) {
      if (r.finish == engine::Finish::cancelled) return;  // dropped: a resume generates it again
      Completion& c = out[i];
      c.text = r.text;
      c.prompt_tokens = r.prompt_tokens;
      c.completion_tokens = r.completion_tokens;
      c.latency_s = r.latency_s;
      switch (r.finish) {
        case engine::Finish::eos:
        case engine::Finish::stop: c.finish = FinishReason::stop; break;
        case engine::Finish::length: c.finish = FinishReason::length; break;
        default: c.finish = FinishReason::error; break;
      }
      if (r.finish == engine::Finish::error) c.error = r.error.empty() ? "native generation failed" : r.error;
      {
        std::lock_guard lock(mu);
        reported[i] = 1;
      }
      if (on_sample) on_sample(c);
    };
    try {
      session_->generate(tr);
    } catch (const std::exception& e) {
      return fail_all(std::string("native generation failed: ") + e.what());
    }
    std::vector<Completion> done;
    std::lock_guard lock(mu);
    for (std::size_t i = 0; i < n; ++i)
      if (reported[i]) done.push_back(out[i]);
    return done;
  }

 private:
  std::string dir_;
  NativeOptions options_;
  std::unique_ptr<engine::Session> session_;
};

}  // namespace

std::unique_ptr<Backend> make_native_backend(const std::string& model_dir, const NativeOptions& options) {
  return std::make_unique<NativeBackend>(model_dir, options);
}

std::unique_ptr<Backend> make_native_backend(const BackendOptions& o) {
  if (o.model.empty()) throw Error("native backend: no model folder given");
  NativeOptions n = native_options_from_json(o.native);
  if (o.threads > 0) n.threads = o.threads;
  if (!o.chat_template.empty()) n.chat_template_file = o.chat_template;
  return make_native_backend(o.model, n);
}

}  // namespace reval
