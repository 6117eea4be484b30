// Checkpoint loading: config.json in both transformers styles, generation_config, rope frequencies, safetensors
// validation (corrupt / incomplete files give errors naming the file and the tensor), sharded and tied
// checkpoints, bf16/f16/f32 storage, and the content hash.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "model/engine/config.hpp"
#include "model/engine/cpu_ops.hpp"
#include "model/engine/single_sequence.hpp"
#include "model/engine/model.hpp"
#include "base/error.hpp"
#include "tests/model/engine/golden_util.hpp"
#include "tests/model/engine/tiny_model.hpp"

namespace reval::engine {
namespace {

using reval::test::TempDir;
using reval::test::TinySpec;

// Runs f, expects a reval::Error whose message contains every needle.
template <class F>
void expect_error(F&& f, const std::vector<std::string>& needles) {
  try {
    f();
    ADD_FAILURE() << "expected reval::Error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const auto& n : needles) EXPECT_NE(msg.find(n), std::string::npos) << "'" << n << "' not in: " << msg;
  }
}

TEST(Config, TransformersV4StyleQwen2) {
  auto c = load_model_config(test::models_dir() + "/tiny-random-qwen2/config.json");
  EXPECT_EQ(c.arch, Architecture::qwen2);
  EXPECT_TRUE(c.attention_bias);
  EXPECT_FALSE(c.qk_norm);
  EXPECT_EQ(c.hidden_size, 48);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_EQ(c.num_kv_heads, 1);
  EXPECT_EQ(c.vocab_size, 151936);
  EXPECT_EQ(c.rope.type, "default");
  EXPECT_DOUBLE_EQ(c.rope.theta, 1e6);
  EXPECT_EQ(c.eos_token_ids, std::vector<std::int64_t>{151643});
  EXPECT_FALSE(c.tie_word_embeddings);
}

TEST(Config, TransformersV5RopeParametersLlama3) {
  auto c = load_model_config(test::models_dir() + "/tiny-random-llama3/config.json");
  EXPECT_EQ(c.arch, Architecture::llama);
  EXPECT_FALSE(c.attention_bias);
  EXPECT_EQ(c.rope.type, "llama3");
  EXPECT_DOUBLE_EQ(c.rope.theta, 500000.0);
  EXPECT_DOUBLE_EQ(c.rope.factor, 8.0);
  EXPECT_DOUBLE_EQ(c.rope.low_freq_factor, 1.0);
  EXPECT_DOUBLE_EQ(c.rope.high_freq_factor, 4.0);
  EXPECT_EQ(c.rope.original_max_position_embeddings, 8192);
  EXPECT_EQ(c.eos_token_ids, (std::vector<std::int64_t>{128001, 128008, 128009}));
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_EQ(c.torch_dtype, "bfloat16");
}

TEST(Config, NullRopeScalingAndLargeConfig) {
  auto t = load_model_config(test::models_dir() + "/tinystories-656k/config.json");
  EXPECT_EQ(t.rope.type, "default");
  EXPECT_DOUBLE_EQ(t.rope.theta, 10000.0);
  EXPECT_EQ(t.num_kv_heads, 4);
  auto d = load_model_config(test::models_dir() + "/deepseek-r1-distill-qwen-32b/config.json");
  EXPECT_EQ(d.num_layers, 64);
  EXPECT_EQ(d.head_dim, 128);
  EXPECT_EQ(d.num_heads / d.num_kv_heads, 5);
  auto g = load_generation_config(test::models_dir() + "/deepseek-r1-distill-qwen-32b/generation_config.json");
  EXPECT_TRUE(g.do_sample);
  EXPECT_DOUBLE_EQ(g.temperature.value(), 0.6);
  EXPECT_DOUBLE_EQ(g.top_p.value(), 0.95);
  EXPECT_EQ(g.bos_token_id.value(), 151646);
  EXPECT_EQ(g.eos_token_ids, std::vector<std::int64_t>{151643});
  auto g2 = load_generation_config(test::models_dir() + "/tiny-random-llama3/generation_config.json");
  EXPECT_EQ(g2.eos_token_ids.size(), 3u);
  EXPECT_FALSE(load_generation_config("/nonexistent/generation_config.json").temperature.has_value());
}

nlohmann::json base_config() {
  return {{"architectures", {"LlamaForCausalLM"}}, {"hidden_size", 64}, {"intermediate_size", 128},
          {"num_hidden_layers", 2}, {"num_attention_heads", 4}, {"num_key_value_heads", 2}, {"vocab_size", 100}};
}

TEST(Config, V4RopeScalingWithTypeKeyAndErrors) {
  auto j = base_config();
  j["rope_theta"] = 500000.0;
  j["rope_scaling"] = {{"type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0}, {"high_freq_factor", 4.0},
                       {"original_max_position_embeddings", 8192}};
  auto c = parse_model_config(j, "cfg.json");
  EXPECT_EQ(c.rope.type, "llama3");
  EXPECT_DOUBLE_EQ(c.rope.theta, 500000.0);
  EXPECT_EQ(c.head_dim, 16);

  auto bad = base_config();
  bad["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}};
  expect_error([&] { parse_model_config(bad, "cfg.json"); }, {"cfg.json", "yarn", "rope_type"});
  auto missing = base_config();
  missing.erase("hidden_size");
  expect_error([&] { parse_model_config(missing, "cfg.json"); }, {"cfg.json", "hidden_size", "missing"});
  auto kv = base_config();
  kv["num_key_value_heads"] = 3;
  expect_error([&] { parse_model_config(kv, "cfg.json"); }, {"num_key_value_heads"});
  auto arch = base_config();
  arch["architectures"] = {"GPT2LMHeadModel"};
  expect_error([&] { parse_model_config(arch, "cfg.json"); }, {"GPT2LMHeadModel"});
  auto l3 = base_config();
  l3["rope_parameters"] = {{"rope_type", "llama3"}, {"factor", 8.0}};
  expect_error([&] { parse_model_config(l3, "cfg.json"); }, {"low_freq_factor"});
  auto q3 = base_config();
  q3["architectures"] = {"Qwen3ForCausalLM"};
  q3["head_dim"] = 32;
  auto c3 = parse_model_config(q3, "cfg.json");
  EXPECT_TRUE(c3.qk_norm);
  EXPECT_EQ(c3.head_dim, 32);
}

TEST(Config, Llama3RopeFrequencies) {
  RopeConfig r;
  r.theta = 500000.0;
  auto plain = rope_inv_freq(r, 128);
  r.type = "llama3";
  r.factor = 8.0;
  r.low_freq_factor = 1.0;
  r.high_freq_factor = 4.0;
  r.original_max_position_embeddings = 8192;
  auto scaled = rope_inv_freq(r, 128);
  ASSERT_EQ(scaled.size(), 64u);
  EXPECT_EQ(plain[0], 1.0f);
  EXPECT_EQ(scaled[0], plain[0]);                           // high frequency: unchanged
  EXPECT_FLOAT_EQ(scaled[63], plain[63] / 8.0f);            // low frequency: divided by factor
  int medium = 0;
  for (int i = 0; i < 64; ++i) {
    const double wavelen = 2 * M_PI / plain[i];
    if (wavelen >= 8192 / 4.0 && wavelen <= 8192 / 1.0) {
      ++medium;  // smoothly interpolated between plain/8 and plain
      EXPECT_LE(scaled[i], plain[i] * 1.000001f);
      EXPECT_GE(scaled[i], plain[i] / 8.0f * 0.999999f);
    }
  }
  EXPECT_GT(medium, 0);
  EXPECT_NEAR(plain[1], std::pow(500000.0, -2.0 / 128), 1e-7);
}

// Logits of `tokens` (all positions) for the model in dir.
std::vector<float> logits_of(const std::string& dir, const std::vector<TokenId>& tokens, const LoadOptions& o = {}) {
  auto m = Model::load(dir, o);
  CpuOps ops(2);
  SequenceRunner runner(m, ops, static_cast<std::int64_t>(tokens.size()));
  return runner.forward(tokens, true);
}

const std::vector<TokenId> kTokens = {1, 5, 66, 7, 0, 33, 12};

TEST(Checkpoint, StorageDtypesGiveTheSameLogitsAsF32OfTheSameValues) {
  for (std::string dt : {"BF16", "F16"}) {
    TempDir stored, reference;
    TinySpec s;
    s.dtype = dt;
    test::write_tiny_model(stored.path(), s);
    TinySpec r;
    r.dtype = "F32";
    r.round_values_to = true;
    r.round_dtype = dt;
    test::write_tiny_model(reference.path(), r);
    auto a = logits_of(stored.path(), kTokens);
    auto b = logits_of(reference.path(), kTokens);
    ASSERT_EQ(a, b) << dt << ": on-the-fly widening must equal fp32 storage of the same values";
    auto c = logits_of(stored.path(), kTokens, LoadOptions{"f32"});
    ASSERT_EQ(a, c) << dt << ": dtype=f32 conversion at load must equal on-the-fly widening";
    auto m = Model::load(stored.path());
    EXPECT_EQ(m->weights_dtype(), dt);
  }
}

TEST(Checkpoint, ShardedEqualsSingleFileAndTiedEitherName) {
  TempDir single, sharded;
  TinySpec s;
  test::write_tiny_model(single.path(), s);
  s.shards = 3;
  test::write_tiny_model(sharded.path(), s);
  EXPECT_EQ(logits_of(single.path(), kTokens), logits_of(sharded.path(), kTokens));
  EXPECT_NE(Model::load(single.path())->content_hash(), Model::load(sharded.path())->content_hash());

  TempDir tied_embed, tied_head;
  TinySpec t;
  t.arch = "LlamaForCausalLM";
  t.tied = true;
  test::write_tiny_model(tied_embed.path(), t);
  t.tied_store = "lm_head";
  test::write_tiny_model(tied_head.path(), t);
  EXPECT_TRUE(std::filesystem::exists(tied_head.path() + "/model.safetensors"));
  auto a = logits_of(tied_embed.path(), kTokens);
  EXPECT_EQ(a, logits_of(tied_head.path(), kTokens));
}

TEST(Checkpoint, ContentHashIsStableAndTracksConfig) {
  TempDir d;
  test::write_tiny_model(d.path(), TinySpec{});
  const std::string h1 = Model::load(d.path())->content_hash();
  EXPECT_EQ(h1.rfind("sha256:", 0), 0u);
  EXPECT_EQ(h1.size(), 7u + 64u);
  EXPECT_EQ(h1, Model::load(d.path())->content_hash());
  std::ofstream(d.path() + "/config.json", std::ios::app) << "\n";
  EXPECT_NE(h1, Model::load(d.path())->content_hash());
}

TEST(Checkpoint, MissingTensorAndWrongShapeNameTheTensor) {
  TempDir d;
  TinySpec s;
  s.drop = {"model.layers.1.mlp.up_proj.weight"};
  test::write_tiny_model(d.path(), s);
  expect_error([&] { Model::load(d.path()); }, {d.path(), "model.layers.1.mlp.up_proj.weight", "missing"});

  TempDir w;
  TinySpec s2;
  s2.reshape["model.layers.0.self_attn.k_proj.weight"] = {17, 32};
  test::write_tiny_model(w.path(), s2);
  expect_error([&] { Model::load(w.path()); },
               {"model.safetensors", "model.layers.0.self_attn.k_proj.weight", "[17, 32]", "expected [16, 32]"});

  TempDir untied;
  TinySpec s3;
  s3.drop = {"lm_head.weight"};
  test::write_tiny_model(untied.path(), s3);
  expect_error([&] { Model::load(untied.path()); }, {"lm_head.weight", "tie_word_embeddings"});

  TempDir bias;
  TinySpec s4;
  s4.drop = {"model.layers.0.self_attn.q_proj.bias"};
  test::write_tiny_model(bias.path(), s4);
  expect_error([&] { Model::load(bias.path()); }, {"model.layers.0.self_attn.q_proj.bias"});

  TempDir none;
  std::ofstream(none.path() + "/config.json") << base_config().dump();
  expect_error([&] { Model::load(none.path()); }, {"model.safetensors"});
}

// A valid single-tensor file to corrupt.
std::string valid_file(const TempDir& d, std::size_t* header_len = nullptr) {
  const std::string p = d.file("model.safetensors");
  std::size_t n = test::write_safetensors(
      p, {{"a.weight", "F32", {2, 3}, test::encode({1, 2, 3, 4, 5, 6}, "F32")},
          {"b.weight", "BF16", {4}, test::encode({1, 2, 3, 4}, "BF16")}});
  if (header_len) *header_len = n;
  return p;
}

std::string slurp(const std::string& p) { return read_file(p); }
void spit(const std::string& p, const std::string& s) { std::ofstream(p, std::ios::binary | std::ios::trunc) << s; }

TEST(Safetensors, ValidFileReadsBack) {
  TempDir d;
  auto f = SafetensorsFile::open(valid_file(d));
  ASSERT_NE(f.find("a.weight"), nullptr);
  EXPECT_EQ(f.find("a.weight")->shape, (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(static_cast<const float*>(f.find("a.weight")->data)[5], 6.0f);
  EXPECT_EQ(f.find("b.weight")->nbytes, 8u);
  EXPECT_EQ(f.find("c"), nullptr);
}

TEST(Safetensors, CorruptFilesGiveClearErrors) {
  {
    TempDir d;
    const std::string p = valid_file(d);
    std::string s = slurp(p);
    spit(p, s.substr(0, s.size() - 3));  // truncated in the last tensor's data
    expect_error([&] { SafetensorsFile::open(p); }, {p, "b.weight", "out of range", "truncated"});
  }
  {
    TempDir d;
    const std::string p = d.file("x.safetensors");
    spit(p, std::string("\x05\x00\x00", 3));
    expect_error([&] { SafetensorsFile::open(p); }, {p, "truncated"});
  }
  {
    TempDir d;
    std::size_t n = 0;
    const std::string p = valid_file(d, &n);
    std::string s = slurp(p);
    s[8 + 1] = '#';  // break the JSON
    spit(p, s);
    expect_error([&] { SafetensorsFile::open(p); }, {p, "header JSON"});
  }
  {
    TempDir d;
    const std::string p = valid_file(d);
    std::string s = slurp(p);
    s[7] = 0x7f;  // header length far beyond the file
    spit(p, s);
    expect_error([&] { SafetensorsFile::open(p); }, {p, "header length"});
  }
  {
    TempDir d;
    const std::string p = d.file("m.safetensors");
    test::write_safetensors(p, {{"w", "F32", {3}, test::encode({1, 2}, "F32")}});  // 8 bytes for 12 needed
    expect_error([&] { SafetensorsFile::open(p); }, {p, "'w'", "needs 12"});
  }
  {
    TempDir d;
    const std::string p = d.file("m.safetensors");
    test::write_safetensors(p, {{"w", "Q4", {2}, test::encode({1, 2}, "F32")}});
    expect_error([&] { SafetensorsFile::open(p); }, {p, "'w'", "Q4"});
  }
  {
    TempDir d;  // an integer tensor where a weight is expected
    TinySpec s;
    test::write_tiny_model(d.path(), s);
    auto tensors = test::tiny_tensors(s);
    std::vector<test::StEntry> entries;
    for (auto& [name, sv] : tensors) {
      if (name == "model.norm.weight") {
        std::string bytes(sv.second.size() * 4, '\0');
        entries.push_back({name, "I32", sv.first, bytes});
      } else {
        entries.push_back({name, "F32", sv.first, test::encode(sv.second, "F32")});
      }
    }
    test::write_safetensors(d.path() + "/model.safetensors", entries);
    expect_error([&] { Model::load(d.path()); }, {"model.norm.weight", "I32"});
  }
}

TEST(Checkpoint, IndexMustMatchShards) {
  TempDir d;
  TinySpec s;
  s.shards = 2;
  test::write_tiny_model(d.path(), s);
  auto idx = nlohmann::json::parse(read_file(d.path() + "/model.safetensors.index.json"));
  idx["weight_map"]["model.layers.9.mlp.up_proj.weight"] = "model-00001-of-00002.safetensors";
  std::ofstream(d.path() + "/model.safetensors.index.json", std::ios::trunc) << idx.dump();
  expect_error([&] { Model::load(d.path()); }, {"model-00001-of-00002.safetensors", "model.layers.9.mlp.up_proj.weight"});
  idx["weight_map"].erase("model.layers.9.mlp.up_proj.weight");
  idx["weight_map"]["model.norm.weight"] = "model-00009-of-00002.safetensors";
  std::ofstream(d.path() + "/model.safetensors.index.json", std::ios::trunc) << idx.dump();
  expect_error([&] { Model::load(d.path()); }, {"model-00009-of-00002.safetensors"});
  std::ofstream(d.path() + "/model.safetensors.index.json", std::ios::trunc) << "{ not json";
  expect_error([&] { Model::load(d.path()); }, {"model.safetensors.index.json", "invalid JSON"});
}

TEST(Checkpoint, Qwen3QkNormLoadsAndRuns) {
  TempDir d;
  TinySpec s;
  s.arch = "Qwen3ForCausalLM";
  test::write_tiny_model(d.path(), s);
  auto l = logits_of(d.path(), kTokens);
  ASSERT_EQ(l.size(), kTokens.size() * 67);
  for (float v : l) ASSERT_TRUE(std::isfinite(v));
}

}  // namespace
}  // namespace reval::engine
