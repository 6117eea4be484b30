// What the engine is asked for and what it answers: a Request (one prompt, k samples) and one SampleResult per
// sample. The engine's own types — it knows nothing of the harness' Backend (model/backends/native_backend.hpp
// adapts them).
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "model/engine/config.hpp"
#include "model/engine/model.hpp"
#include "model/engine/sampler.hpp"

namespace reval::engine {

enum class Finish : std::uint8_t {
  eos,        // drew a stop token (counted in completion_tokens(), not returned)
  stop,       // the caller's token callback asked to stop (stop strings)
  length,     // max_new_tokens reached, or the model's max_position_embeddings
  cancelled,  // the request's cancel flag was set (or the engine shut down) before the sample finished
  error,      // the request failed (SampleResult::error says why)
};
const char* to_string(Finish f);

struct SampleResult {
  std::vector<TokenId> tokens;        // generated tokens, stop token excluded
  Finish finish = Finish::length;
  std::int64_t prompt_tokens = 0;
  double first_token_s = 0.0;         // from submission to this sample's first token
  double latency_s = 0.0;             // from submission to this sample's end
  int preemptions = 0;                // times the sample lost its blocks and was recomputed
  std::string error;                  // finish == error
  std::int64_t completion_tokens() const {
    return static_cast<std::int64_t>(tokens.size()) + (finish == Finish::eos ? 1 : 0);
  }
};

struct Request {
  std::vector<TokenId> prompt;          // non-empty
  std::vector<std::uint64_t> seeds;     // one sample per seed; sample i draws with counter_uniform(seeds[i], pos)
  SamplerConfig sampler;
  std::int64_t max_new_tokens = 256;
  std::vector<TokenId> stop_tokens;
  std::int64_t vocab_limit = 0;         // sample only ids < vocab_limit (0: every embedding row)
  const std::atomic<bool>* cancel = nullptr;  // polled once per step; true ends the unfinished samples (cancelled)
  // Both callbacks run on the engine's scheduler thread, must be quick and must not call into the engine. An
  // exception thrown by either fails the request (finish = error) without disturbing other requests.
  // (sample index, token) -> keep going? Not called for stop tokens.
  std::function<bool(std::size_t, TokenId)> on_token;
  std::function<void(std::size_t, const SampleResult&)> on_finish;
};

// Positions a sample of this request may occupy: prompt + max(1, max_new_tokens), but not past the model's
// max_position_embeddings when the prompt is shorter than that (a longer prompt is not refused: RoPE models run
// past their trained length, as transformers does). A sample ends (Finish::length) once prompt + generated exceeds
// the capacity, so its KV cache holds at most min(prompt + max_new_tokens - 1, capacity) positions.
std::int64_t sample_capacity(const ModelConfig& config, std::int64_t prompt_tokens, std::int64_t max_new_tokens);
std::int64_t kv_positions_needed(const ModelConfig& config, std::int64_t prompt_tokens, std::int64_t max_new_tokens);

}  // namespace reval::engine
