// The native Backend: the in-process engine (model/engine) behind the harness' Backend interface.
//
// Theory of operation: make_native_backend() opens an engine Session on the model folder (checkpoint, tokenizer,
// chat template, one Engine with its scheduler thread and paged KV cache). generate() renders request.messages
// into prompt ids (Session::chat_prompt), derives sample i's seed as sample_seed(run seed, task, problem_id, i),
// and hands the whole request to the engine, which batches it with every other request in flight: the harness may
// call generate() from max_concurrency() threads at once (default: as many as the engine runs samples in one
// step) and each call blocks until its samples are done, reporting each through on_sample the moment it
// finishes. Stop strings (SamplingParams::stop) end a sample as soon as its text contains one; the text is cut
// before it. Engine finish reasons map to the Backend's: eos/stop -> stop, length -> length, error -> error (with
// Completion::error). When GenerationRequest::cancel becomes true, samples not finished by then are dropped (not
// reported, not returned), so a resumed run generates them again.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "model/backends.hpp"

namespace reval {

struct NativeOptions {
  int threads = 0;                      // CPU threads (0: all hardware threads)
  std::string chat_template_file;       // overrides the model folder's chat template
  std::string dtype = "auto";           // auto (compute over stored bf16/f16/f32) | f32 (convert weights at load)
  std::int64_t kv_memory = 0;           // KV cache budget in bytes (0: min(4 GiB, RAM / 4, 2^20 positions))
  int block_size = 16;                  // positions per KV block
  int max_running = 256;                // samples decoded together per step
  std::int64_t max_step_tokens = 1024;  // new tokens per step (decode + prefill chunks)
  bool prefix_cache = true;             // reuse cached prompt blocks across requests
  int max_concurrency = 0;              // generate() calls accepted at once (0: max_running)
};

std::unique_ptr<Backend> make_native_backend(const std::string& model_dir, const NativeOptions& options = {});
// The registry's maker: NativeOptions from BackendOptions::native (see native_options_from_json), then `threads`
// and `chat_template` when set.
std::unique_ptr<Backend> make_native_backend(const BackendOptions& options);

// Reads NativeOptions fields from free-form JSON: threads, chat_template, dtype, kv_memory (bytes or a string such
// as "4GiB"), block_size, max_running (alias max_batch), max_step_tokens, prefix_cache, max_concurrency.
// Throws reval::Error naming the field on a wrong type or value.
NativeOptions native_options_from_json(const nlohmann::json& j, NativeOptions base = {});

}  // namespace reval
