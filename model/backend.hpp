// Backend: the one interface through which the harness gets completions, whatever produces them (the native
// engine, an OpenAI-compatible server, or a replay file). A request is one problem's prompt and the sample indices
// still missing for it; the backend returns one Completion per index (fewer only after request.cancel was set).
// Backends must be safe to call from up to max_concurrency() threads at once. A failure to produce a sample is
// reported in Completion::error (it becomes an infra_error sample), not thrown; generate() throws reval::Error only
// for misconfiguration.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/finish_reason.hpp"

namespace reval {

struct SamplingParams {
  double temperature = 0.6;    // 0 = greedy
  double top_p = 0.95;         // 1 = off
  int top_k = 0;               // 0 = off
  double min_p = 0.0;          // 0 = off
  int max_new_tokens = 32768;
  std::uint64_t seed = 0;      // run seed; the per-sample seed is derived from it (sample_seed)
  std::vector<std::string> stop;  // extra stop strings
};
nlohmann::json to_json(const SamplingParams& p);

struct ChatMessage {
  std::string role;     // system | user | assistant
  std::string content;
};

struct GenerationRequest {
  std::string task;                  // identifies the problem for replay and for seeds
  std::string problem_id;
  std::vector<ChatMessage> messages; // rendered with the model's chat template by the backend
  std::vector<int> sample_indices;   // which of the k samples to produce
  SamplingParams sampling;
  // Optional: when it becomes true the backend may stop early; samples it has not finished by then are left out
  // of the result (and not reported), so a resumed run produces them. Backends that cannot stop ignore it.
  const std::atomic<bool>* cancel = nullptr;
};


struct Completion {
  int sample_index = 0;
  std::string text;
  std::int64_t prompt_tokens = -1;      // -1 when unknown
  std::int64_t completion_tokens = -1;
  FinishReason finish = FinishReason::stop;
  double latency_s = 0.0;
  std::uint64_t seed = 0;               // the seed this sample used
  std::string error;                    // non-empty: the sample could not be generated (infra_error)
};

struct BackendInfo {
  std::string backend;          // native | openai | replay
  std::string model;            // path or served name
  std::string model_hash;       // "" when unknown
  std::string engine_version;
  std::string device;
  std::string chat_template_id; // hash or name of the chat template applied, "" when the server applies it
  // Backend-specific provenance recorded in the run's config as "backend_details" (servers, tokenizer, how the
  // prompt's BOS was handled, where token counts come from, ...); empty when there is nothing to add.
  nlohmann::json details = nlohmann::json::object();
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual BackendInfo info() const = 0;
  virtual int max_concurrency() const { return 1; }
  // Produces completions for request.sample_indices. `on_sample` (may be empty) is called as each completion is
  // ready, possibly from another thread, so callers can store samples as soon as they exist.
  virtual std::vector<Completion> generate(const GenerationRequest& request,
                                           const std::function<void(const Completion&)>& on_sample = {}) = 0;
};

// Deterministic per-sample seed from the run seed and the sample's identity (stable across runs and resumes).
std::uint64_t sample_seed(std::uint64_t run_seed, const std::string& task, const std::string& problem_id,
                          int sample_index);

}  // namespace reval
