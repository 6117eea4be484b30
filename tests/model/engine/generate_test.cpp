// Generation: batched vs one-at-a-time and shared-prefill vs fresh prefill give identical outputs (greedy and
// seeded sampling), stop tokens, max_new_tokens, the token callback, chunked prefill, and the position limit.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "model/engine/generator.hpp"
#include "model/engine/model.hpp"
#include "base/error.hpp"
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

TEST_F(Generate, BatchedEqualsSingleAndSharedPrefillEqualsFresh) {
  Generator gen(model_, 2);
  const auto prompt = prompt_ids();
  const std::vector<std::uint64_t> seeds = {11, 22, 33, 44, 55};
  for (double temperature : {0.0, 1.0}) {
    GenerateParams p;
    p.sampler = {temperature, 0.9, 50, 0.01};
    p.max_new_tokens = 12;
    p.vocab_limit = 151665;
    p.max_batch = 5;
    auto batched = gen.generate(prompt, seeds, p);
    p.max_batch = 1;
    auto single = gen.generate(prompt, seeds, p);
    ASSERT_EQ(batched.size(), 5u);
    for (std::size_t i = 0; i < seeds.size(); ++i) {
      EXPECT_EQ(batched[i].tokens, single[i].tokens) << "T=" << temperature << " sample " << i;
      EXPECT_EQ(batched[i].tokens.size(), 12u);
      EXPECT_EQ(batched[i].finish, FinishReason::length);
      // Fresh prefill for this sample alone (its own generate call), with a different prefill chunking.
      GenerateParams f = p;
      f.prefill_chunk = 5;
      auto fresh = gen.generate(prompt, {&seeds[i], 1}, f);
      EXPECT_EQ(fresh[0].tokens, batched[i].tokens) << "T=" << temperature << " sample " << i;
    }
    if (temperature > 0) {
      EXPECT_NE(batched[0].tokens, batched[1].tokens) << "different seeds should differ";
      for (const auto& s : batched)
        for (TokenId t : s.tokens) EXPECT_LT(t, 151665) << "padded vocabulary row sampled";
    } else {
      for (std::size_t i = 1; i < seeds.size(); ++i) EXPECT_EQ(batched[i].tokens, batched[0].tokens);
    }
  }
}

TEST_F(Generate, DecodeStepEqualsPrefillLogits) {
  // Logits for the last prompt token: one prefill vs prefill of all but one + one decode step.
  Generator gen(model_, 1);
  const auto prompt = prompt_ids();
  KVCache a(model_->config(), 32), b(model_->config(), 32);
  auto full = gen.forward(a, prompt, false);
  gen.forward(b, std::span<const TokenId>(prompt).first(prompt.size() - 1), false);
  auto step = gen.forward(b, std::span<const TokenId>(prompt).last(1), false);
  ASSERT_EQ(full.size(), step.size());
  for (std::size_t i = 0; i < full.size(); ++i) ASSERT_NEAR(full[i], step[i], 1e-5 * (1 + std::abs(full[i])));
  EXPECT_EQ(a.size(), static_cast<std::int64_t>(prompt.size()));
  // A copied prefix continues exactly like the original.
  KVCache c(model_->config(), 32);
  c.copy_prefix_from(a, a.size());
  auto next_a = gen.forward(a, std::vector<TokenId>{42}, false);
  auto next_c = gen.forward(c, std::vector<TokenId>{42}, false);
  EXPECT_EQ(next_a, next_c);
}

TEST_F(Generate, StopTokensMaxNewAndCallback) {
  Generator gen(model_, 2);
  const auto prompt = prompt_ids();
  const std::uint64_t seed = 5;
  GenerateParams p;
  p.max_new_tokens = 10;
  auto base = gen.generate(prompt, {&seed, 1}, p);
  ASSERT_EQ(base[0].tokens.size(), 10u);
  EXPECT_EQ(base[0].finish, FinishReason::length);
  EXPECT_EQ(base[0].completion_tokens(), 10);
  // Make the 4th greedy token a stop token (if it does not occur earlier).
  const TokenId stop = base[0].tokens[3];
  const auto first = std::find(base[0].tokens.begin(), base[0].tokens.end(), stop) - base[0].tokens.begin();
  p.stop_tokens = {stop};
  auto stopped = gen.generate(prompt, {&seed, 1}, p);
  EXPECT_EQ(stopped[0].finish, FinishReason::stop);
  EXPECT_TRUE(stopped[0].hit_stop_token);
  EXPECT_EQ(static_cast<long>(stopped[0].tokens.size()), first);
  EXPECT_EQ(stopped[0].completion_tokens(), first + 1);
  EXPECT_EQ(std::vector<TokenId>(base[0].tokens.begin(), base[0].tokens.begin() + first), stopped[0].tokens);
  // Callback returning false after 2 tokens stops the sample (stop strings use this).
  p.stop_tokens.clear();
  int calls = 0;
  std::vector<std::size_t> finished;
  auto cb = gen.generate(prompt, {&seed, 1}, p, [&](std::size_t, TokenId) { return ++calls < 2; },
                         [&](std::size_t i, const SampleOutput& o) { finished.push_back(i); });
  EXPECT_EQ(cb[0].tokens.size(), 2u);
  EXPECT_EQ(cb[0].finish, FinishReason::stop);
  EXPECT_FALSE(cb[0].hit_stop_token);
  EXPECT_EQ(finished, std::vector<std::size_t>{0});
  p.max_new_tokens = 0;
  auto none = gen.generate(prompt, {&seed, 1}, p);
  EXPECT_TRUE(none[0].tokens.empty());
  EXPECT_EQ(none[0].finish, FinishReason::length);
  EXPECT_THROW(gen.generate({}, {&seed, 1}, p), Error);
}

TEST(GenerateLimits, StopsAtMaxPositionEmbeddingsAndRejectsBadTokens) {
  test::TempDir d;
  test::TinySpec s;
  s.max_pos = 16;
  test::write_tiny_model(d.path(), s);
  auto m = Model::load(d.path());
  Generator gen(m, 1);
  const std::vector<TokenId> prompt = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  const std::uint64_t seed = 1;
  GenerateParams p;
  p.max_new_tokens = 100;
  auto out = gen.generate(prompt, {&seed, 1}, p);
  EXPECT_EQ(out[0].finish, FinishReason::length);
  EXPECT_EQ(prompt.size() + out[0].tokens.size(), 17u);  // 16 positions forwarded + the last sampled token
  KVCache c(m->config(), 4);
  EXPECT_THROW(gen.forward(c, std::vector<TokenId>{67}, false), Error);
  EXPECT_THROW(gen.forward(c, std::vector<TokenId>{1, 2, 3, 4, 5}, false), Error);
}

}  // namespace
}  // namespace reval::engine
