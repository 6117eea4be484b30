// The random-checkpoint writer (model/engine/random_checkpoint.hpp): what it writes loads as a model of the given
// shape, the CPU engine runs it, the output is a pure function of the spec, and bad specs are refused.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/error.hpp"
#include "model/engine/engine.hpp"
#include "model/engine/model.hpp"
#include "model/engine/random_checkpoint.hpp"
#include "model/engine/safetensors.hpp"
#include "tests/test_util.hpp"

namespace reval::engine {
namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(RandomCheckpoint, EveryTinyPresetLoadsAndGenerates) {
  for (const char* name : {"tiny-qwen2", "tiny-llama3", "tiny-qwen3"}) {
    SCOPED_TRACE(name);
    test::TempDir dir;
    const RandomCheckpointSpec spec = random_checkpoint_preset(name);
    write_random_checkpoint(spec, dir.path());
    auto model = Model::load(dir.path());
    const ModelConfig& c = model->config();
    EXPECT_EQ(c.hidden_size, spec.hidden);
    EXPECT_EQ(c.num_layers, spec.layers);
    EXPECT_EQ(c.num_heads, spec.heads);
    EXPECT_EQ(c.num_kv_heads, spec.kv_heads);
    EXPECT_EQ(c.intermediate_size, spec.intermediate);
    EXPECT_EQ(c.vocab_size, spec.vocab);
    EXPECT_EQ(c.tie_word_embeddings, spec.tie_embeddings);
    EXPECT_EQ(c.attention_bias, spec.arch == "qwen2");
    EXPECT_EQ(c.qk_norm, spec.arch == "qwen3");
    EXPECT_EQ(c.rope.type, spec.llama3_rope_scaling ? "llama3" : "default");
    EXPECT_EQ(model->weights_dtype(), "BF16");
    EXPECT_EQ(std::filesystem::file_size(dir.file("model.safetensors")) > random_checkpoint_bytes(spec), true);

    EngineOptions opt;
    opt.threads = 2;
    opt.kv_memory = 8 << 20;
    Engine engine(model, opt);
    Request r;
    r.prompt = {3, 17, 42, 5, 99};
    r.seeds = {1, 2};
    r.sampler.temperature = 0.8;
    r.max_new_tokens = 12;
    const auto out = engine.generate(r);
    ASSERT_EQ(out.size(), 2u);
    for (const auto& s : out) {
      EXPECT_NE(s.finish, Finish::error) << s.error;
      EXPECT_FALSE(s.tokens.empty());
      for (TokenId t : s.tokens) EXPECT_TRUE(t >= 0 && t < spec.vocab);
    }
  }
}

TEST(RandomCheckpoint, ValuesFollowTheSpec) {
  test::TempDir dir;
  RandomCheckpointSpec spec = random_checkpoint_preset("tiny-qwen2");
  spec.init_std = 0.05;
  write_random_checkpoint(spec, dir.path());
  auto ck = Checkpoint::open(dir.path());
  const TensorView* w = ck.find("model.layers.0.mlp.up_proj.weight");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->dtype, "BF16");
  const auto* bits = static_cast<const std::uint16_t*>(w->data);
  double sum = 0, sq = 0;
  const std::int64_t n = w->numel();
  for (std::int64_t i = 0; i < n; ++i) {
    const double v = kernels::bf16_to_f32(bits[i]);
    sum += v;
    sq += v * v;
  }
  const double mean = sum / static_cast<double>(n), sd = std::sqrt(sq / static_cast<double>(n) - mean * mean);
  EXPECT_NEAR(mean, 0.0, 0.005);
  EXPECT_NEAR(sd, 0.05, 0.003);
  const TensorView* norm = ck.find("model.norm.weight");
  ASSERT_NE(norm, nullptr);
  const auto* nb = static_cast<const std::uint16_t*>(norm->data);
  for (std::int64_t i = 0; i < norm->numel(); ++i) EXPECT_NEAR(kernels::bf16_to_f32(nb[i]), 1.0, 0.18);
  EXPECT_NE(ck.find("model.layers.2.self_attn.k_proj.bias"), nullptr);
  EXPECT_EQ(ck.find("model.layers.0.self_attn.q_norm.weight"), nullptr);
}

TEST(RandomCheckpoint, SameSpecSameBytesOtherSeedOtherBytes) {
  test::TempDir a, b, c;
  RandomCheckpointSpec spec = random_checkpoint_preset("tiny-llama3");
  write_random_checkpoint(spec, a.path());
  write_random_checkpoint(spec, b.path());
  spec.seed = 2;
  write_random_checkpoint(spec, c.path());
  const std::string fa = slurp(a.file("model.safetensors"));
  EXPECT_EQ(fa, slurp(b.file("model.safetensors")));
  EXPECT_NE(fa, slurp(c.file("model.safetensors")));
  EXPECT_EQ(slurp(a.file("config.json")), slurp(b.file("config.json")));
}

TEST(RandomCheckpoint, TokenizerIsCopied) {
  const std::string tok = test::shared_path("models/tiny-random-qwen2");
  if (!std::filesystem::exists(tok + "/tokenizer.json")) GTEST_SKIP() << "no shared tiny-random-qwen2 tokenizer";
  test::TempDir dir;
  write_random_checkpoint(random_checkpoint_preset("tiny-qwen2"), dir.path(), tok);
  EXPECT_EQ(slurp(dir.file("tokenizer.json")), slurp(tok + "/tokenizer.json"));
  test::TempDir bad;
  EXPECT_THROW(write_random_checkpoint(random_checkpoint_preset("tiny-qwen2"), bad.path(), bad.path()), Error);
}

TEST(RandomCheckpoint, BadSpecsAreRefused) {
  test::TempDir dir;
  EXPECT_THROW(random_checkpoint_preset("no-such-model"), Error);
  RandomCheckpointSpec s = random_checkpoint_preset("tiny-qwen2");
  s.kv_heads = 4;  // does not divide 6 heads
  EXPECT_THROW(write_random_checkpoint(s, dir.path()), Error);
  s = random_checkpoint_preset("tiny-qwen2");
  s.arch = "gpt2";
  EXPECT_THROW(write_random_checkpoint(s, dir.path()), Error);
  s = random_checkpoint_preset("tiny-qwen2");
  s.dtype = "int8";
  EXPECT_THROW(write_random_checkpoint(s, dir.path()), Error);
  // The real shapes' sizes (no file written): 1.5B and 7B bf16.
  const double gb15 = static_cast<double>(random_checkpoint_bytes(random_checkpoint_preset("r1-distill-qwen-1.5b")));
  EXPECT_NEAR(gb15 / 1e9, 3.55, 0.05);
  const double gb7 = static_cast<double>(random_checkpoint_bytes(random_checkpoint_preset("r1-distill-qwen-7b")));
  EXPECT_NEAR(gb7 / 1e9, 15.23, 0.1);
}

}  // namespace
}  // namespace reval::engine
