// Test helpers: write safetensors files and small random Qwen2/Llama checkpoints into a temp folder.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kernels/cpu_kernels.hpp"

namespace reval::test {

struct StEntry {
  std::string name, dtype;            // F32 | F16 | BF16 | ...
  std::vector<std::int64_t> shape;
  std::string bytes;                  // raw little-endian data
};

// Writes a safetensors file; returns the header length.
inline std::size_t write_safetensors(const std::string& path, const std::vector<StEntry>& entries,
                                     const std::map<std::string, std::string>& metadata = {}) {
  nlohmann::json h = nlohmann::json::object();
  if (!metadata.empty()) h["__metadata__"] = metadata;
  std::size_t off = 0;
  for (const auto& e : entries) {
    h[e.name] = {{"dtype", e.dtype}, {"shape", e.shape}, {"data_offsets", {off, off + e.bytes.size()}}};
    off += e.bytes.size();
  }
  std::string header = h.dump();
  while (header.size() % 8) header += ' ';
  std::ofstream out(path, std::ios::binary);
  std::uint64_t n = header.size();
  char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  out.write(len, 8);
  out << header;
  for (const auto& e : entries) out << e.bytes;
  return header.size();
}

// Encodes fp32 values in the given safetensors dtype (rounding to nearest even).
inline std::string encode(const std::vector<float>& v, const std::string& dtype) {
  std::string out;
  if (dtype == "F32") {
    out.resize(v.size() * 4);
    std::memcpy(out.data(), v.data(), out.size());
  } else {
    out.resize(v.size() * 2);
    for (std::size_t i = 0; i < v.size(); ++i) {
      std::uint16_t b = dtype == "BF16" ? kernels::f32_to_bf16(v[i]) : kernels::f32_to_f16(v[i]);
      std::memcpy(out.data() + 2 * i, &b, 2);
    }
  }
  return out;
}

// Rounds values through a dtype (what a reader of that dtype will see).
inline std::vector<float> round_through(std::vector<float> v, const std::string& dtype) {
  if (dtype == "BF16") for (auto& x : v) x = kernels::bf16_to_f32(kernels::f32_to_bf16(x));
  if (dtype == "F16") for (auto& x : v) x = kernels::f16_to_f32(kernels::f32_to_f16(x));
  return v;
}

struct TinySpec {
  std::string arch = "Qwen2ForCausalLM";
  std::string dtype = "F32";          // storage dtype of every tensor
  bool round_values_to = false;       // store f32 values pre-rounded through `round_dtype`
  std::string round_dtype = "BF16";
  bool tied = false;
  std::string tied_store = "embed";   // tied: which name is stored ("embed" | "lm_head" + metadata alias)
  int shards = 1;                     // >1: model.safetensors.index.json + shards
  std::vector<std::string> drop;      // tensor names to leave out
  std::map<std::string, std::vector<std::int64_t>> reshape;  // tensor name -> wrong shape to store
  std::int64_t hidden = 32, inter = 48, layers = 2, heads = 4, kv_heads = 2, vocab = 67, max_pos = 256;
  unsigned seed = 42;
};

// All tensors of a tiny random model (fp32 values) in file order.
inline std::vector<std::pair<std::string, std::pair<std::vector<std::int64_t>, std::vector<float>>>> tiny_tensors(
    const TinySpec& s) {
  std::mt19937 rng(s.seed);
  std::normal_distribution<float> nd(0.0f, 0.3f);
  std::vector<std::pair<std::string, std::pair<std::vector<std::int64_t>, std::vector<float>>>> t;
  auto add = [&](const std::string& name, std::vector<std::int64_t> shape, float base = 0.0f) {
    std::int64_t n = 1;
    for (auto d : shape) n *= d;
    std::vector<float> v(static_cast<std::size_t>(n));
    for (auto& x : v) x = base + nd(rng);
    t.push_back({name, {shape, v}});
  };
  const std::int64_t hd = s.hidden / s.heads;
  add("model.embed_tokens.weight", {s.vocab, s.hidden});
  for (std::int64_t l = 0; l < s.layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    add(p + "input_layernorm.weight", {s.hidden}, 1.0f);
    add(p + "self_attn.q_proj.weight", {s.heads * hd, s.hidden});
    add(p + "self_attn.k_proj.weight", {s.kv_heads * hd, s.hidden});
    add(p + "self_attn.v_proj.weight", {s.kv_heads * hd, s.hidden});
    add(p + "self_attn.o_proj.weight", {s.hidden, s.heads * hd});
    if (s.arch == "Qwen2ForCausalLM") {
      add(p + "self_attn.q_proj.bias", {s.heads * hd});
      add(p + "self_attn.k_proj.bias", {s.kv_heads * hd});
      add(p + "self_attn.v_proj.bias", {s.kv_heads * hd});
    }
    if (s.arch == "Qwen3ForCausalLM") {
      add(p + "self_attn.q_norm.weight", {hd}, 1.0f);
      add(p + "self_attn.k_norm.weight", {hd}, 1.0f);
    }
    add(p + "post_attention_layernorm.weight", {s.hidden}, 1.0f);
    add(p + "mlp.gate_proj.weight", {s.inter, s.hidden});
    add(p + "mlp.up_proj.weight", {s.inter, s.hidden});
    add(p + "mlp.down_proj.weight", {s.hidden, s.inter});
  }
  add("model.norm.weight", {s.hidden}, 1.0f);
  if (!s.tied) add("lm_head.weight", {s.vocab, s.hidden});
  return t;
}

inline void write_tiny_model(const std::string& dir, const TinySpec& s) {
  nlohmann::json cfg = {{"architectures", {s.arch}},
                        {"hidden_size", s.hidden},
                        {"intermediate_size", s.inter},
                        {"num_hidden_layers", s.layers},
                        {"num_attention_heads", s.heads},
                        {"num_key_value_heads", s.kv_heads},
                        {"vocab_size", s.vocab},
                        {"max_position_embeddings", s.max_pos},
                        {"rms_norm_eps", 1e-6},
                        {"rope_theta", 10000.0},
                        {"tie_word_embeddings", s.tied},
                        {"hidden_act", "silu"},
                        {"bos_token_id", 1},
                        {"eos_token_id", 2}};
  std::ofstream(dir + "/config.json") << cfg.dump(2);
  std::ofstream(dir + "/generation_config.json") << R"({"bos_token_id": 1, "eos_token_id": [2, 3]})";
  std::vector<StEntry> entries;
  std::map<std::string, std::string> meta;
  for (auto& [name, sv] : tiny_tensors(s)) {
    std::string stored = name;
    if (s.tied && name == "model.embed_tokens.weight" && s.tied_store == "lm_head") {
      stored = "lm_head.weight";
      meta["model.embed_tokens.weight"] = "lm_head.weight";
    }
    if (std::find(s.drop.begin(), s.drop.end(), name) != s.drop.end()) continue;
    auto shape = sv.first;
    auto values = s.round_values_to ? round_through(sv.second, s.round_dtype) : sv.second;
    if (auto it = s.reshape.find(name); it != s.reshape.end()) {
      shape = it->second;
      std::int64_t n = 1;
      for (auto d : shape) n *= d;
      values.resize(static_cast<std::size_t>(n), 0.5f);
    }
    entries.push_back({stored, s.dtype, shape, encode(values, s.dtype)});
  }
  if (s.shards <= 1) {
    write_safetensors(dir + "/model.safetensors", entries, meta);
    return;
  }
  nlohmann::json index = {{"metadata", {{"total_size", 0}}}, {"weight_map", nlohmann::json::object()}};
  const std::size_t per = (entries.size() + s.shards - 1) / s.shards;
  for (int k = 0; k < s.shards; ++k) {
    const std::string file = "model-0000" + std::to_string(k + 1) + "-of-0000" + std::to_string(s.shards) + ".safetensors";
    std::vector<StEntry> part;
    for (std::size_t i = k * per; i < std::min(entries.size(), (k + 1) * per); ++i) {
      part.push_back(entries[i]);
      index["weight_map"][entries[i].name] = file;
    }
    write_safetensors(dir + "/" + file, part);
  }
  std::ofstream(dir + "/model.safetensors.index.json") << index.dump(2);
}

}  // namespace reval::test
