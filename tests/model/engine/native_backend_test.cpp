// The native Backend end to end: chat-template rendering (or the plain fallback for tinystories), tokenization,
// shared-prefill generation of several samples with per-sample seeds, stop strings, decoding, token counts,
// finish reasons and provenance info.
#include <gtest/gtest.h>

#include <mutex>

#include "model/backend.hpp"
#include "model/engine/native_backend.hpp"
#include "base/error.hpp"
#include "tests/model/engine/golden_util.hpp"

namespace reval {
namespace {

GenerationRequest story_request(double temperature, int max_new, std::vector<int> indices) {
  GenerationRequest r;
  r.task = "unit";
  r.problem_id = "p1";
  r.messages = {{"user", "Once upon a time"}};
  r.sample_indices = std::move(indices);
  r.sampling.temperature = temperature;
  r.sampling.top_p = 1.0;
  r.sampling.max_new_tokens = max_new;
  r.sampling.seed = 7;
  return r;
}

TEST(NativeBackend, TinyStoriesPlainPromptGreedyMatchesReference) {
  const std::string dir = test::models_dir() + "/tinystories-656k";
  NativeOptions o;
  o.threads = 2;
  auto b = make_native_backend(dir, o);
  BackendInfo info = b->info();
  EXPECT_EQ(info.backend, "native");
  EXPECT_EQ(info.model, dir);
  EXPECT_EQ(info.model_hash.rfind("sha256:", 0), 0u);
  EXPECT_EQ(info.device, "cpu (2 threads)");
  EXPECT_EQ(info.chat_template_id, "plain-concat");
  EXPECT_NE(info.engine_version.find("reval-native"), std::string::npos);

  std::mutex mu;
  std::vector<int> seen;
  auto out = b->generate(story_request(0.0, 29, {0, 3}), [&](const Completion& c) {
    std::lock_guard<std::mutex> lock(mu);
    seen.push_back(c.sample_index);
  });
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(seen.size(), 2u);
  for (const auto& c : out) {
    EXPECT_TRUE(c.error.empty()) << c.error;
    EXPECT_EQ(c.prompt_tokens, 6);  // BOS + "Once upon a time"
    EXPECT_EQ(c.completion_tokens, 29);
    EXPECT_EQ(c.finish, FinishReason::length);
    EXPECT_EQ(c.text.rfind(", a little girl named Lily lived in a small house with her mom, dad", 0), 0u) << c.text;
  }
  EXPECT_EQ(out[0].text, out[1].text);
  EXPECT_EQ(out[0].sample_index, 0);
  EXPECT_EQ(out[1].sample_index, 3);
  EXPECT_EQ(out[1].seed, sample_seed(7, "unit", "p1", 3));

  auto req = story_request(0.0, 40, {0});
  req.sampling.stop = {"Lily"};
  auto stopped = b->generate(req);
  EXPECT_EQ(stopped[0].text, ", a little girl named ");
  EXPECT_EQ(stopped[0].finish, FinishReason::stop);
}

TEST(NativeBackend, SeededSamplingIsReproducibleAndPerSample) {
  auto b = make_native_backend(test::models_dir() + "/tinystories-656k", NativeOptions{});
  auto a = b->generate(story_request(1.0, 24, {0, 1, 2}));
  auto again = b->generate(story_request(1.0, 24, {2, 0}));
  EXPECT_EQ(a[0].text, again[1].text);
  EXPECT_EQ(a[2].text, again[0].text);
  EXPECT_FALSE(a[0].text == a[1].text && a[1].text == a[2].text) << "three samples identical";
  auto bad = story_request(1.0, 4, {0});
  bad.sampling.top_p = 0.0;
  EXPECT_THROW(b->generate(bad), Error);
}

TEST(NativeBackend, ChatTemplateModelWithPaddedVocabulary) {
  NativeOptions o;
  o.max_batch = 2;
  auto b = make_native_backend(test::models_dir() + "/tiny-random-qwen2", o);
  EXPECT_NE(b->info().chat_template_id, "plain-concat");
  GenerationRequest r;
  r.task = "unit";
  r.problem_id = "q";
  r.messages = {{"user", "What is 2+2?"}};
  r.sample_indices = {0, 1, 2};
  r.sampling.temperature = 1.0;
  r.sampling.top_p = 1.0;
  r.sampling.max_new_tokens = 8;
  auto out = b->generate(r);
  ASSERT_EQ(out.size(), 3u);
  for (const auto& c : out) {
    EXPECT_TRUE(c.error.empty()) << c.error;
    EXPECT_GT(c.prompt_tokens, 5);
    EXPECT_GE(c.completion_tokens, 1);
    EXPECT_LE(c.completion_tokens, 8);
  }
}

}  // namespace
}  // namespace reval
