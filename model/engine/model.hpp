// The loaded model: configuration and weights, immutable and shareable across threads and engines.
//
// Theory of operation: Model::load() parses config.json/generation_config.json, opens the safetensors checkpoint
// (mmap), checks every tensor's presence and shape, and keeps large matrices as views into the mapping in their
// stored dtype (bf16/f16/f32; a device widens or uploads them as it needs) unless LoadOptions::dtype = "f32"
// asks for an fp32 copy. Small vectors (norms, biases) are converted to fp32 at load. Tied embeddings work with
// either name stored. Model is never mutated after load, so one instance can serve many engines and threads.
// The model holds no per-sequence state: the KV cache is model/engine/kv_cache.hpp, the forward pass
// model/engine/forward.hpp, and the operations it runs on a device model/engine/ops.hpp.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kernels/cpu_kernels.hpp"
#include "model/engine/config.hpp"
#include "model/engine/safetensors.hpp"

namespace reval::engine {

using TokenId = std::int32_t;

struct LoadOptions {
  std::string dtype = "auto";  // auto: compute over the stored dtype; f32: convert matrices to fp32 at load
};

// A [rows, cols] row-major matrix in its storage type (view into the checkpoint or into Model-owned memory).
struct Weight {
  const void* data = nullptr;
  kernels::DType dtype = kernels::DType::f32;
  std::int64_t rows = 0, cols = 0;
};

struct LayerWeights {
  std::vector<float> attn_norm;              // [hidden]
  Weight q, k, v, o;                         // q [heads*hd, hidden], k/v [kv_heads*hd, hidden], o [hidden, heads*hd]
  std::vector<float> q_bias, k_bias, v_bias; // [heads*hd], [kv*hd], [kv*hd]; empty without attention bias
  std::vector<float> q_norm, k_norm;         // [hd] (Qwen3 only; empty otherwise)
  std::vector<float> mlp_norm;               // [hidden]
  Weight gate, up, down;                     // gate/up [inter, hidden], down [hidden, inter]
};

class Model {
 public:
  static std::shared_ptr<const Model> load(const std::string& dir, const LoadOptions& options = {});

  const ModelConfig& config() const { return config_; }
  const GenerationConfig& generation_config() const { return generation_; }
  const std::string& dir() const { return dir_; }
  // "sha256:<hex>" over config.json and every safetensors header (names, dtypes, shapes, offsets).
  const std::string& content_hash() const { return hash_; }
  std::int64_t vocab_rows() const { return config_.vocab_size; }
  const std::vector<float>& inv_freq() const { return inv_freq_; }  // [head_dim/2], rope scaling applied
  std::string weights_dtype() const;

  const Weight& embedding() const { return embed_; }   // [vocab, hidden]
  const Weight& lm_head() const { return lm_head_; }     // [vocab, hidden] (the embedding when tied)
  const std::vector<float>& final_norm() const { return final_norm_; }  // [hidden]
  const std::vector<LayerWeights>& layers() const { return layers_; }

 private:
  Model() = default;
  ModelConfig config_;
  GenerationConfig generation_;
  std::string dir_, hash_;
  Checkpoint checkpoint_;                         // owns the mappings the Weight views point into
  std::vector<std::vector<float>> owned_;         // fp32 copies when LoadOptions::dtype == "f32"
  Weight embed_, lm_head_;                        // [vocab, hidden]
  std::vector<float> final_norm_;                 // [hidden]
  std::vector<LayerWeights> layers_;
  std::vector<float> inv_freq_;
};

// RoPE inverse frequencies (fp32, as transformers computes them) for head_dim and the rope config.
std::vector<float> rope_inv_freq(const RopeConfig& rope, std::int64_t head_dim);

}  // namespace reval::engine
