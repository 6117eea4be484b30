// Model loading and the batched CPU forward pass (see model.hpp).
#include "model/engine/model.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <numbers>

#include "base/sha256.hpp"
#include "base/error.hpp"

namespace reval::engine {

namespace kc = reval::kernels::cpu;
using kernels::DType;

// ---------------------------------------------------------------------------------------------------------------
// KVCache

KVCache::KVCache(const ModelConfig& c, std::int64_t capacity)
    : layers_(c.num_layers), row_(c.num_kv_heads * c.head_dim), capacity_(capacity) {
  if (capacity <= 0) throw Error("KV cache capacity must be positive");
  reserve(std::min<std::int64_t>(capacity, 256));
}

void KVCache::reserve(std::int64_t n) {
  if (n <= allocated_) return;
  if (n > capacity_) throw Error("KV cache: " + std::to_string(n) + " positions exceed capacity " + std::to_string(capacity_));
  const std::int64_t cap = std::min(capacity_, std::max(n, 2 * allocated_));
  std::vector<float> k(static_cast<std::size_t>(layers_ * cap * row_)), v(k.size());
  for (std::int64_t l = 0; l < layers_; ++l) {
    const std::size_t bytes = static_cast<std::size_t>(size_ * row_) * sizeof(float);
    if (bytes == 0) continue;
    std::memcpy(k.data() + l * cap * row_, k_.data() + l * allocated_ * row_, bytes);
    std::memcpy(v.data() + l * cap * row_, v_.data() + l * allocated_ * row_, bytes);
  }
  k_ = std::move(k);
  v_ = std::move(v);
  allocated_ = cap;
}

void KVCache::copy_prefix_from(const KVCache& other, std::int64_t n) {
  if (other.layers_ != layers_ || other.row_ != row_) throw Error("KV cache copy between different models");
  if (n > other.size_ || n > capacity_) throw Error("KV cache copy: prefix longer than source or capacity");
  size_ = 0;
  reserve(n);
  for (std::int64_t l = 0; l < layers_; ++l) {
    std::memcpy(k(l), other.k(l), static_cast<std::size_t>(n * row_) * sizeof(float));
    std::memcpy(v(l), other.v(l), static_cast<std::size_t>(n * row_) * sizeof(float));
  }
  size_ = n;
}

void KVCache::truncate(std::int64_t n) { size_ = std::clamp<std::int64_t>(n, 0, size_); }

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
    hash.update("\n" + std::filesystem::path(f->path()).filename().string() + "\n");
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

// ---------------------------------------------------------------------------------------------------------------
// Forward pass

std::int64_t Model::logits_rows(std::span<const ForwardItem> items) {
  std::int64_t r = 0;
  for (const auto& it : items) r += it.all_logits ? it.n : 1;
  return r;
}

namespace {
template <class T>
T* grow(std::vector<T>& v, std::int64_t n) {
  if (static_cast<std::int64_t>(v.size()) < n) v.resize(static_cast<std::size_t>(n));
  return v.data();
}
}  // namespace

void Model::forward(std::span<const ForwardItem> items, ForwardWorkspace& ws, kernels::ThreadPool* pool,
                    float* logits) const {
  const ModelConfig& c = config_;
  const std::int64_t H = c.hidden_size, hd = c.head_dim, half = hd / 2;
  const std::int64_t nq = c.num_heads * hd, nkv = c.num_kv_heads * hd, I = c.intermediate_size;
  std::int64_t M = 0, max_kv = 0;
  for (const auto& it : items) {
    if (!it.cache || it.n <= 0) throw Error("forward: empty item");
    if (it.cache->size() + it.n > it.cache->capacity())
      throw Error("forward: KV cache full (" + std::to_string(it.cache->size()) + " + " + std::to_string(it.n) +
                  " tokens > capacity " + std::to_string(it.cache->capacity()) + ")");
    it.cache->reserve(it.cache->size() + it.n);
    M += it.n;
    max_kv = std::max(max_kv, it.cache->size() + it.n);
  }
  if (M == 0) return;
  std::int32_t* ids = grow(ws.ids, M);
  std::int32_t* pos = grow(ws.positions, M);
  {
    std::int64_t r = 0;
    for (const auto& it : items)
      for (std::int64_t i = 0; i < it.n; ++i, ++r) {
        const TokenId t = it.tokens[i];
        if (t < 0 || t >= c.vocab_size)
          throw Error("forward: token id " + std::to_string(t) + " out of range [0, " + std::to_string(c.vocab_size) +
                      ")");
        ids[r] = t;
        pos[r] = static_cast<std::int32_t>(it.cache->size() + i);
      }
  }
  float* x = grow(ws.x, M * H);
  float* h = grow(ws.h, M * H);
  float* q = grow(ws.q, M * nq);
  float* k = grow(ws.k, M * nkv);
  float* v = grow(ws.v, M * nkv);
  float* att = grow(ws.att, M * nq);
  float* gate = grow(ws.gate, M * I);
  float* up = grow(ws.up, M * I);
  float* cs = grow(ws.cos, M * half);
  float* sn = grow(ws.sin, M * half);
  const int threads = pool ? pool->size() : 1;
  float* scores = grow(ws.scores, static_cast<std::int64_t>(threads) * max_kv);
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd)));
  const float eps = static_cast<float>(c.rms_norm_eps);
  const int heads = static_cast<int>(c.num_heads), kv_heads = static_cast<int>(c.num_kv_heads);

  kc::embedding(embed_.data, embed_.dtype, H, ids, M, x);
  kc::rope_tables(inv_freq_.data(), static_cast<int>(half), pos, M, cs, sn);

  auto linear = [&](const float* in, std::int64_t ld_in, const Weight& w, const std::vector<float>& bias, float* out) {
    kc::matmul(in, M, w.cols, ld_in, w.data, w.dtype, w.rows, bias.empty() ? nullptr : bias.data(), out, w.rows, pool);
  };
  static const std::vector<float> no_bias;

  for (std::size_t l = 0; l < layers_.size(); ++l) {
    const LayerWeights& L = layers_[l];
    kc::rmsnorm(x, M, H, H, L.attn_norm.data(), eps, h, H);
    linear(h, H, L.q, L.q_bias, q);
    linear(h, H, L.k, L.k_bias, k);
    linear(h, H, L.v, L.v_bias, v);
    if (c.qk_norm) {
      kc::rmsnorm(q, M * heads, hd, hd, L.q_norm.data(), eps, q, hd);
      kc::rmsnorm(k, M * kv_heads, hd, hd, L.k_norm.data(), eps, k, hd);
    }
    kc::rope(q, M, heads, static_cast<int>(hd), nq, cs, sn);
    kc::rope(k, M, kv_heads, static_cast<int>(hd), nkv, cs, sn);
    // Append the new keys/values to each item's cache, then attend.
    std::vector<std::int64_t> offsets;
    offsets.reserve(items.size());
    std::int64_t r = 0;
    for (const auto& it : items) {
      offsets.push_back(r);
      KVCache& cache = *it.cache;
      std::memcpy(cache.k(l) + cache.size() * nkv, k + r * nkv, static_cast<std::size_t>(it.n * nkv) * sizeof(float));
      std::memcpy(cache.v(l) + cache.size() * nkv, v + r * nkv, static_cast<std::size_t>(it.n * nkv) * sizeof(float));
      r += it.n;
    }
    auto attend = [&](std::size_t i, float* scratch, kernels::ThreadPool* p) {
      const ForwardItem& it = items[i];
      const std::int64_t o = offsets[i], past = it.cache->size();
      kc::attention(q + o * nq, it.n, nq, heads, kv_heads, static_cast<int>(hd), it.cache->k(l), it.cache->v(l), nkv,
                    past + it.n, past, scale, att + o * nq, nq, scratch, p);
    };
    if (items.size() == 1 || !pool) {
      for (std::size_t i = 0; i < items.size(); ++i) attend(i, scores, pool);
    } else {
      pool->parallel_for(static_cast<std::int64_t>(items.size()), [&](std::int64_t b, std::int64_t e, int tid) {
        for (std::int64_t i = b; i < e; ++i) attend(static_cast<std::size_t>(i), scores + tid * max_kv, nullptr);
      });
    }
    linear(att, nq, L.o, no_bias, h);
    kc::add_inplace(x, h, M * H);
    kc::rmsnorm(x, M, H, H, L.mlp_norm.data(), eps, h, H);
    linear(h, H, L.gate, no_bias, gate);
    linear(h, H, L.up, no_bias, up);
    kc::silu_mul(gate, up, M * I, gate);
    linear(gate, I, L.down, no_bias, h);
    kc::add_inplace(x, h, M * H);
  }
  for (const auto& it : items) it.cache->advance(it.n);

  // Final norm and lm_head on the rows that need logits.
  const std::int64_t R = logits_rows(items);
  float* normed = grow(ws.normed, R * H);
  std::int64_t r = 0, o = 0;
  for (const auto& it : items) {
    const std::int64_t first = it.all_logits ? 0 : it.n - 1;
    for (std::int64_t i = first; i < it.n; ++i, ++o) kc::rmsnorm(x + (r + i) * H, 1, H, H, final_norm_.data(), eps, normed + o * H, H);
    r += it.n;
  }
  kc::matmul(normed, R, H, H, lm_head_.data, lm_head_.dtype, lm_head_.rows, nullptr, logits, lm_head_.rows, pool);
}

}  // namespace reval::engine
