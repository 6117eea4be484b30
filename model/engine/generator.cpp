// Generation loop (see generator.hpp).
#include "model/engine/generator.hpp"

#include <algorithm>
#include <chrono>

#include "base/error.hpp"

namespace reval::engine {

Generator::Generator(std::shared_ptr<const Model> model, int n_threads) : model_(std::move(model)), pool_(n_threads) {}

std::vector<float> Generator::forward(KVCache& cache, std::span<const TokenId> tokens, bool all_logits) {
  ForwardItem item{&cache, tokens.data(), static_cast<std::int64_t>(tokens.size()), all_logits};
  std::vector<float> logits(static_cast<std::size_t>(Model::logits_rows({&item, 1}) * model_->vocab_rows()));
  model_->forward({&item, 1}, ws_, &pool_, logits.data());
  return logits;
}

std::vector<SampleOutput> Generator::generate(std::span<const TokenId> prompt, std::span<const std::uint64_t> seeds,
                                              const GenerateParams& params, const TokenFn& on_token,
                                              const FinishFn& on_finish) {
  using clock = std::chrono::steady_clock;
  const auto t0 = clock::now();
  if (prompt.empty()) throw Error("generate: empty prompt");
  const Model& m = *model_;
  const std::int64_t V = m.vocab_rows();
  const std::int64_t n_valid = params.vocab_limit > 0 ? std::min(params.vocab_limit, V) : V;
  const std::int64_t max_new = std::max<std::int64_t>(0, params.max_new_tokens);
  const std::int64_t P = static_cast<std::int64_t>(prompt.size());
  // Cache room for the prompt and the new tokens, but not past the model's position limit (when it has one).
  std::int64_t capacity = P + std::max<std::int64_t>(1, max_new);
  if (m.config().max_position_embeddings > P) capacity = std::min(capacity, m.config().max_position_embeddings);

  std::vector<SampleOutput> out(seeds.size());
  auto finish = [&](std::size_t i, FinishReason why) {
    out[i].finish = why;
    out[i].latency_s = std::chrono::duration<double>(clock::now() - t0).count();
    if (on_finish) on_finish(i, out[i]);
  };
  if (seeds.empty()) return out;
  if (max_new == 0) {
    for (std::size_t i = 0; i < seeds.size(); ++i) finish(i, FinishReason::length);
    return out;
  }

  // Prefill once.
  KVCache proto(m.config(), P);
  std::vector<float> prompt_logits;
  const std::int64_t chunk = std::max<std::int64_t>(1, params.prefill_chunk);
  for (std::int64_t b = 0; b < P; b += chunk) {
    const std::int64_t e = std::min(P, b + chunk);
    prompt_logits = forward(proto, prompt.subspan(static_cast<std::size_t>(b), static_cast<std::size_t>(e - b)), false);
  }

  auto is_stop = [&](TokenId t) {
    return std::find(params.stop_tokens.begin(), params.stop_tokens.end(), t) != params.stop_tokens.end();
  };
  const std::size_t batch = static_cast<std::size_t>(std::max(1, params.max_batch));
  std::vector<float> logits;
  for (std::size_t g0 = 0; g0 < seeds.size(); g0 += batch) {
    const std::size_t g1 = std::min(seeds.size(), g0 + batch);
    struct Live {
      std::size_t index;
      KVCache cache;
      Rng rng;
      TokenId next;
    };
    std::vector<Live> live;
    live.reserve(g1 - g0);
    // Accepts token t for sample i; returns true if the sample goes on.
    auto accept = [&](std::size_t i, TokenId t) {
      if (is_stop(t)) {
        out[i].hit_stop_token = true;
        finish(i, FinishReason::stop);
        return false;
      }
      out[i].tokens.push_back(t);
      if (on_token && !on_token(i, t)) {
        finish(i, FinishReason::stop);
        return false;
      }
      const std::int64_t k = static_cast<std::int64_t>(out[i].tokens.size());
      if (k >= max_new || P + k > capacity) {
        finish(i, FinishReason::length);
        return false;
      }
      return true;
    };
    for (std::size_t i = g0; i < g1; ++i) {
      Rng rng(seeds[i]);
      const TokenId t = sample_token(prompt_logits.data(), n_valid, params.sampler, rng, sampler_scratch_);
      if (!accept(i, t)) continue;
      KVCache cache(m.config(), capacity);
      cache.copy_prefix_from(proto, P);
      live.push_back(Live{i, std::move(cache), rng, t});
    }
    std::vector<ForwardItem> items;
    while (!live.empty()) {
      items.clear();
      for (auto& s : live) items.push_back(ForwardItem{&s.cache, &s.next, 1, false});
      logits.resize(static_cast<std::size_t>(static_cast<std::int64_t>(items.size()) * V));
      m.forward(items, ws_, &pool_, logits.data());
      std::vector<Live> still;
      still.reserve(live.size());
      for (std::size_t j = 0; j < live.size(); ++j) {
        Live& s = live[j];
        const TokenId t = sample_token(logits.data() + static_cast<std::int64_t>(j) * V, n_valid, params.sampler,
                                       s.rng, sampler_scratch_);
        if (accept(s.index, t)) {
          s.next = t;
          still.push_back(std::move(s));
        }
      }
      live = std::move(still);
    }
  }
  return out;
}

}  // namespace reval::engine
