// Random-weight Hugging Face checkpoints of a given shape: config.json, generation_config.json and one
// model.safetensors (bf16 by default), optionally with a tokenizer copied in — for tests and GPU benchmarks of
// real model shapes without a download (e.g. DeepSeek-R1-Distill-Qwen-1.5B's shape, 3.5 GB of random bf16).
//
// Theory of operation: a RandomCheckpointSpec names the architecture (qwen2: q/k/v bias; llama: optional llama3
// rope scaling; qwen3: per-head q/k RMSNorm and an explicit head_dim) and the dimensions; presets() gives the
// shapes used in the project. write_random_checkpoint() writes the safetensors header (tensor names exactly as
// transformers stores them, offsets 8-byte aligned) and streams each tensor's values, drawn uniformly with the
// requested standard deviation from a counter-based generator keyed by (seed, tensor index, element), so the
// same spec always gives byte-identical files, whichever order tensors are written in. Norm weights are 1 plus a
// small perturbation (so a wrong norm weight shows), biases are drawn like the matrices.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace reval::engine {

struct RandomCheckpointSpec {
  std::string arch = "qwen2";           // qwen2 | llama | qwen3
  std::int64_t hidden = 64;
  std::int64_t layers = 2;
  std::int64_t heads = 4;
  std::int64_t kv_heads = 2;
  std::int64_t head_dim = 0;            // 0: hidden / heads (written explicitly for qwen3)
  std::int64_t intermediate = 128;
  std::int64_t vocab = 512;
  std::int64_t max_positions = 32768;
  bool tie_embeddings = false;
  double rope_theta = 10000.0;
  bool llama3_rope_scaling = false;     // llama only: factor 8, low 1, high 4, original 8192
  double rms_norm_eps = 1e-6;
  std::string dtype = "bf16";           // bf16 | f16 | f32
  double init_std = 0.02;               // standard deviation of every matrix and bias
  double embed_std = 0.0;               // 0: init_std
  std::uint64_t seed = 1;
  std::int64_t bos_token_id = 0;
  std::int64_t eos_token_id = 1;
};

// Named shapes: r1-distill-qwen-1.5b, r1-distill-qwen-7b, tiny-qwen2, tiny-llama3, tiny-qwen3 (tiny ones have
// odd sizes and fit the CPU tests).
std::vector<std::string> random_checkpoint_presets();
// Throws reval::Error for an unknown name.
RandomCheckpointSpec random_checkpoint_preset(const std::string& name);

// Total bytes of the tensors the spec describes.
std::uint64_t random_checkpoint_bytes(const RandomCheckpointSpec& spec);

// Writes the checkpoint into `dir` (created if needed). When tokenizer_dir is not empty, its tokenizer.json and
// tokenizer_config.json (and chat_template.jinja if present) are copied in. Throws reval::Error on an invalid
// spec or an I/O failure.
void write_random_checkpoint(const RandomCheckpointSpec& spec, const std::string& dir,
                             const std::string& tokenizer_dir = "");

}  // namespace reval::engine
