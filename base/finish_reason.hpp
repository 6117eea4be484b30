// How the generation of one sample ended: the vocabulary shared by the backends that produce samples, the store
// that records them and the graders that read them (a cut-off output is judged differently from a finished one).
#pragma once
#include <string>
#include <string_view>

namespace reval {

enum class FinishReason {
  stop,    // end of sequence, a stop token or a stop string
  length,  // the max_new_tokens limit (or the context) cut the output off
  error,   // generation failed: the sample is an infra_error
};

std::string to_string(FinishReason r);
// "stop" | "length" | "error"; the other finish reasons OpenAI-compatible servers send ("eos", "content_filter",
// "tool_calls", "abort", ...) mean the output ended without being cut off, so they read as `stop`.
FinishReason finish_reason_from_string(std::string_view s);

}  // namespace reval
