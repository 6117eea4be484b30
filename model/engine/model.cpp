// Model loading (see model.hpp).
#include "model/engine/model.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numbers>

#include "base/sha256.hpp"
#include "base/error.hpp"

namespace reval::engine {

using kernels::DType;

// ---------------------------------------------------------------------------------------------------------------
// RoPE frequencies, computed in fp32 like transformers' rope init functions.

std::vector<float> rope_inv_freq(const RopeConfig& rope, std::int64_t head_dim) {
  const std::int64_t half = head_dim / 2;
  std::vector<float> inv(static_cast<std::size_t>(half));
  const float base = static_cast<float>(rope.theta);
  for (std::int64_t i = 0; i < half; ++i) {
    const float e = static_cast<float>(2 * i) / static_cast<float>(head_dim);
    inv[i] = 1.0f / std::pow(base, e);
  }
  if (rope.type == "linear") {
    for (auto& f : inv) f = f / static_cast<float>(rope.factor);
  } else if (rope.type == "llama3") {
    const float factor = static_cast<float>(rope.factor);
    const float lo = static_cast<float>(rope.low_freq_factor), hi = static_cast<float>(rope.high_freq_factor);
    const float old_ctx = static_cast<float>(rope.original_max_position_embeddings);
    const float low_wavelen = old_ctx / lo, high_wavelen = old_ctx / hi;
    for (auto& f : inv) {
      const float wavelen = static_cast<float>(2.0 * std::numbers::pi) / f;
      float g = wavelen > low_wavelen ? f / factor : f;
      const bool medium = !(wavelen < high_wavelen) && !(wavelen > low_wavelen);
      if (medium) {
        const float smooth = (old_ctx / wavelen - lo) / (hi - lo);
        g = (1.0f - smooth) * g / factor + smooth * g;
      }
      f = g;
    }
  }
  return inv;
}

// ---------------------------------------------------------------------------------------------------------------
// Loading

namespace {

DType weight_dtype(const TensorView& v) {
  if (v.dtype == "F32") return DType::f32;
  if (v.dtype == "F16") return DType::f16;
  if (v.dtype == "BF16") return DType::bf16;
  throw Error(v.file + ": tensor '" + v.name + "': unsupported dtype " + v.dtype + " (expected F32, F16 or BF16)");
}

std::vector<float> to_f32(const TensorView& v) {
  std::vector<float> out(static_cast<std::size_t>(v.numel()));
  kernels::convert_to_f32(v.data, weight_dtype(v), out.size(), out.data());
  return out;
}

}  // namespace

std::string Model::weights_dtype() const { return kernels::dtype_name(layers_.empty() ? embed_.dtype : layers_[0].q.dtype); }

std::shared_ptr<const Model> Model::load(const std::string& dir, const LoadOptions& options) {
  if (options.dtype != "auto" && options.dtype != "f32")
    throw Error("native engine: unsupported dtype option '" + options.dtype + "' (auto or f32)");
  if (!std::filesystem::is_directory(dir)) throw Error(dir + ": model directory not found");
  std::shared_ptr<Model> m(new Model());
  m->dir_ = dir;
  const std::string config_path = dir + "/config.json";
  const std::string config_text = read_file(config_path);
  m->config_ = load_model_config(config_path);
  m->generation_ = load_generation_config(dir + "/generation_config.json");
  m->checkpoint_ = Checkpoint::open(dir);
  const ModelConfig& c = m->config_;

  Sha256 hash;
  hash.update("config.json\n");
  hash.update(config_text);
  std::vector<const SafetensorsFile*> files;
  for (const auto& f : m->checkpoint_.files()) files.push_back(&f);
  std::sort(files.begin(), files.end(), [](auto* a, auto* b) { return a->path() < b->path(); });
  for (const auto* f : files) {
    std::string name = std::filesystem::path(f->path()).filename().string();
    hash.update(std::string(1, '\n').append(name).append(1, '\n'));
    hash.update(f->header_json());
  }
  m->hash_ = "sha256:" + hash.hex();

  const Checkpoint& ck = m->checkpoint_;
  auto mat = [&](const TensorView& t) {
    Weight w{t.data, weight_dtype(t), t.shape[0], t.shape[1]};
    if (options.dtype == "f32" && w.dtype != DType::f32) {
      m->owned_.push_back(to_f32(t));
      w.data = m->owned_.back().data();
      w.dtype = DType::f32;
    }
    return w;
  };
  auto matrix = [&](const std::string& name, std::int64_t rows, std::int64_t cols) {
    return mat(ck.get(name, {rows, cols}));
  };
  auto vec = [&](const std::string& name, std::int64_t n) { return to_f32(ck.get(name, {n})); };

  const std::int64_t H = c.hidden_size, hd = c.head_dim, nq = c.num_heads * hd, nkv = c.num_kv_heads * hd;
  const std::int64_t V = c.vocab_size, I = c.intermediate_size;
  const TensorView* embed = ck.find("model.embed_tokens.weight");
  const TensorView* head = ck.find("lm_head.weight");
  if (!embed && c.tie_word_embeddings) embed = head;
  if (!embed) throw Error(dir + ": missing tensor 'model.embed_tokens.weight'");
  const TensorView& e = ck.get(embed->name, {V, H});
  m->embed_ = mat(e);
  if (c.tie_word_embeddings || !head) {
    if (!c.tie_word_embeddings)
      throw Error(dir + ": missing tensor 'lm_head.weight' (tie_word_embeddings is false)");
    m->lm_head_ = m->embed_;
  } else {
    m->lm_head_ = matrix("lm_head.weight", V, H);
  }
  m->final_norm_ = vec("model.norm.weight", H);
  for (std::int64_t l = 0; l < c.num_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    LayerWeights L;
    L.attn_norm = vec(p + "input_layernorm.weight", H);
    L.q = matrix(p + "self_attn.q_proj.weight", nq, H);
    L.k = matrix(p + "self_attn.k_proj.weight", nkv, H);
    L.v = matrix(p + "self_attn.v_proj.weight", nkv, H);
    L.o = matrix(p + "self_attn.o_proj.weight", H, nq);
    if (c.attention_bias) {
      L.q_bias = vec(p + "self_attn.q_proj.bias", nq);
      L.k_bias = vec(p + "self_attn.k_proj.bias", nkv);
      L.v_bias = vec(p + "self_attn.v_proj.bias", nkv);
    }
    if (c.qk_norm) {
      L.q_norm = vec(p + "self_attn.q_norm.weight", hd);
      L.k_norm = vec(p + "self_attn.k_norm.weight", hd);
    }
    L.mlp_norm = vec(p + "post_attention_layernorm.weight", H);
    L.gate = matrix(p + "mlp.gate_proj.weight", I, H);
    L.up = matrix(p + "mlp.up_proj.weight", I, H);
    L.down = matrix(p + "mlp.down_proj.weight", H, I);
    m->layers_.push_back(std::move(L));
  }
  m->inv_freq_ = rope_inv_freq(c.rope, hd);
  return m;
}

}  // namespace reval::engine
