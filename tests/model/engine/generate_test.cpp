// Generation basics on both paths (the single-sequence path and the engine): the paged forward pass gives the same
// logits whatever the block size and chunking, a decode step equals the prefill logits, stop tokens, max_new_tokens,
// the token callback (stop strings) and the position limit end samples with the right finish reason and counts,
// and bad input is a clear error.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "base/error.hpp"
#include "model/engine/cpu_ops.hpp"
#include "model/engine/engine.hpp"
#include "model/engine/forward.hpp"
#include "model/engine/kv_cache.hpp"
#include "model/engine/model.hpp"
#include "model/engine/single_sequence.hpp"
#include "tests/model/engine/golden_util.hpp"
#include "tests/model/engine/tiny_model.hpp"

namespace reval::engine {
namespace {

std::vector<TokenId> prompt_ids() { return {151646, 151644, 3838, 374, 220, 17, 10, 17, 30, 151645, 151648, 198}; }

class Generate : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { model_ = Model::load(test::models_dir() + "/tiny-random-qwen2"); }
  static void TearDownTestSuite() { model_.reset(); }
  static std::shared_ptr<const Model> model_;
};
std::shared_ptr<const Model> Generate::model_;

TEST_F(Generate, DecodeStepEqualsPrefillLogits) {
  CpuOps ops(1);
  const auto prompt = prompt_ids();
  SequenceRunner a(model_, ops, 32), b(model_, ops, 32);
  auto full = a.forward(prompt, false);
  b.forward(std::span<const TokenId>(prompt).first(prompt.size() - 1), false);
  auto step = b.forward(std::span<const TokenId>(prompt).last(1), false);
  ASSERT_EQ(full.size(), step.size());
  ASSERT_EQ(full.size(), static_cast<std::size_t>(model_->vocab_rows()));
  for (std::size_t i = 0; i < full.size(); ++i) ASSERT_NEAR(full[i], step[i], 1e-5 * (1 + std::abs(full[i])));
  EXPECT_EQ(a.size(), static_cast<std::int64_t>(prompt.size()));
  EXPECT_EQ(a.forward(std::vector<TokenId>{42}, false), b.forward(std::vector<TokenId>{42}, false));
}

TEST_F(Generate, PagedLogitsDoNotDependOnBlockSizeChunkingOrThreads) {
  const auto prompt = prompt_ids();
  CpuOps one(1), two(2);
  SequenceRunner ref(model_, one, 64, 16, 512);
  const auto want = ref.forward(prompt, true);
  for (int bs : {1, 3, 5, 16, 64}) {
    for (std::int64_t chunk : {1, 4, 512}) {
      SequenceRunner r(model_, two, 64, bs, chunk);
      EXPECT_EQ(r.forward(prompt, true), want) << "block size " << bs << ", chunk " << chunk;
    }
  }
}

TEST_F(Generate, StopTokensMaxNewAndCallbackOnBothPaths) {
  CpuOps ops(2);
  EngineOptions eo;
  eo.kv_memory = 8 << 20;
  Engine engine(model_, eo);
  Request r;
  r.prompt = prompt_ids();
  r.seeds = {5};
  r.max_new_tokens = 10;
  auto base = generate_one(model_, ops, r, 0);
  ASSERT_EQ(base.tokens.size(), 10u);
  EXPECT_EQ(base.finish, Finish::length);
  EXPECT_EQ(base.completion_tokens(), 10);
  auto e = engine.generate(r);
  EXPECT_EQ(e[0].tokens, base.tokens);
  EXPECT_EQ(e[0].finish, Finish::length);
  EXPECT_EQ(e[0].prompt_tokens, static_cast<std::int64_t>(r.prompt.size()));
  // Make the 4th greedy token a stop token (its first occurrence ends the sample).
  const TokenId stop = base.tokens[3];
  const auto first = std::find(base.tokens.begin(), base.tokens.end(), stop) - base.tokens.begin();
  r.stop_tokens = {stop};
  for (const auto& s : {generate_one(model_, ops, r, 0), engine.generate(r)[0]}) {
    EXPECT_EQ(s.finish, Finish::eos);
    EXPECT_EQ(static_cast<long>(s.tokens.size()), first);
    EXPECT_EQ(s.completion_tokens(), first + 1);
    EXPECT_EQ(std::vector<TokenId>(base.tokens.begin(), base.tokens.begin() + first), s.tokens);
  }
  // The token callback returning false after 2 tokens stops the sample (stop strings use this).
  r.stop_tokens.clear();
  int calls = 0;
  std::vector<std::size_t> finished;
  r.on_token = [&](std::size_t, TokenId) { return ++calls < 2; };
  r.on_finish = [&](std::size_t i, const SampleResult& o) {
    finished.push_back(i);
    EXPECT_EQ(o.finish, Finish::stop);
  };
  auto cb = engine.generate(r);
  EXPECT_EQ(cb[0].tokens.size(), 2u);
  EXPECT_EQ(cb[0].finish, Finish::stop);
  EXPECT_EQ(cb[0].completion_tokens(), 2);
  EXPECT_EQ(finished, std::vector<std::size_t>{0});
  r.on_token = nullptr;
  r.on_finish = nullptr;
  r.max_new_tokens = 0;
  auto none = engine.generate(r);
  EXPECT_TRUE(none[0].tokens.empty());
  EXPECT_EQ(none[0].finish, Finish::length);
  r.prompt.clear();
  EXPECT_THROW(engine.generate(r), Error);
  r.prompt = {1, 2, static_cast<TokenId>(model_->vocab_rows())};
  EXPECT_THROW(engine.generate(r), Error);
  r.prompt = prompt_ids();
  r.sampler.top_p = 0.0;
  EXPECT_THROW(engine.generate(r), Error);
  engine.check_idle();
}

TEST_F(Generate, BlockTablesWiderThanPlannedAreWidened) {
  CpuOps ops(1);
  const auto prompt = prompt_ids();
  SequenceRunner ref(model_, ops, 16, 16);
  const auto want = ref.forward(prompt, false);
  KvLayout layout = KvLayout::fit(model_->config(), 2, ops.kv_dtype(), 1 << 20);
  KvCache kv(ops, layout);
  ForwardLimits limits;
  limits.max_tokens = 16;
  limits.max_seqs = 1;
  limits.max_blocks_per_seq = 1;  // the plan needs 6 columns (12 positions in blocks of 2)
  ForwardPass fp(model_, ops, kv, limits);
  StepPlan plan;
  plan.clear();
  const std::vector<std::int32_t> table = {7, 3, 11, 0, 5, 9};
  plan.add_sequence(prompt, 0, table, 2, true);
  std::vector<TokenId> none;
  std::vector<float> got;
  fp.run(plan, none, &got);
  EXPECT_EQ(got, want);
  EXPECT_GE(fp.limits().max_blocks_per_seq, 6);
}

TEST(GenerateLimits, StopsAtMaxPositionEmbeddingsAndRejectsBadTokens) {
  test::TempDir d;
  test::TinySpec s;
  s.max_pos = 16;
  test::write_tiny_model(d.path(), s);
  auto m = Model::load(d.path());
  CpuOps ops(1);
  Request r;
  r.prompt = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  r.seeds = {1};
  r.max_new_tokens = 100;
  auto out = generate_one(m, ops, r, 0);
  EXPECT_EQ(out.finish, Finish::length);
  EXPECT_EQ(r.prompt.size() + out.tokens.size(), 17u);  // 16 positions forwarded + the last sampled token
  Engine engine(m, EngineOptions{});
  auto e = engine.generate(r);
  EXPECT_EQ(e[0].tokens, out.tokens);
  EXPECT_EQ(e[0].finish, Finish::length);
  // A prompt longer than the model's positions still runs (RoPE has no hard limit; transformers does the same):
  // the limit only caps generation after prompts that fit.
  r.prompt.assign(17, 5);
  r.max_new_tokens = 3;
  auto past = engine.generate(r);
  EXPECT_EQ(past[0].tokens.size(), 3u);
  EXPECT_EQ(past[0].tokens, generate_one(m, ops, r, 0).tokens);
  SequenceRunner c(m, ops, 4);
  EXPECT_THROW(c.forward(std::vector<TokenId>{67}, false), Error);
  EXPECT_THROW(c.forward(std::vector<TokenId>{1, 2, 3, 4, 5}, false), Error);
  EXPECT_EQ(c.size(), 0);
}

}  // namespace
}  // namespace reval::engine
