// The native Backend end to end: chat-template rendering (or the plain fallback for tinystories), tokenization,
// generation of several samples with per-sample seeds, stop strings, decoding, token counts, finish reasons and
// provenance info; concurrent generate() calls (as the harness makes them) give the same completions as one at a
// time; a cancelled request reports only finished samples; a KV budget too small is a clear per-sample error;
// the options parser; "native" is a built-in backend of the factory.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "model/backend.hpp"
#include "model/backends.hpp"
#include "model/backends/native_backend.hpp"
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
  o.max_running = 2;
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

TEST(NativeBackend, ConcurrentCallsEqualOneAtATimeAndStreamEachSample) {
  const std::string dir = test::models_dir() + "/tinystories-656k";
  NativeOptions o;
  o.threads = 2;
  o.kv_memory = 32 << 20;
  auto b = make_native_backend(dir, o);
  EXPECT_GE(b->max_concurrency(), 64) << "the engine batches many problems: the harness should send them";
  std::vector<GenerationRequest> reqs;
  for (int p = 0; p < 6; ++p) {
    GenerationRequest r = story_request(0.8, 12 + 3 * p, {0, 1, 2});
    r.problem_id = "p" + std::to_string(p);
    r.messages = {{"user", p % 2 ? "Once upon a time" : "The little dog"}};
    r.sampling.stop = {p == 3 ? "." : "zzz"};
    reqs.push_back(r);
  }
  std::vector<std::vector<Completion>> seq, par(reqs.size());
  for (const auto& r : reqs) seq.push_back(b->generate(r));
  std::atomic<int> streamed{0};
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < reqs.size(); ++i)
    threads.emplace_back([&, i] { par[i] = b->generate(reqs[i], [&](const Completion&) { ++streamed; }); });
  for (auto& t : threads) t.join();
  EXPECT_EQ(streamed.load(), 18);
  for (std::size_t i = 0; i < reqs.size(); ++i) {
    ASSERT_EQ(par[i].size(), 3u);
    for (std::size_t j = 0; j < 3; ++j) {
      EXPECT_EQ(par[i][j].text, seq[i][j].text) << i << "/" << j;
      EXPECT_EQ(par[i][j].completion_tokens, seq[i][j].completion_tokens);
      EXPECT_EQ(par[i][j].finish, seq[i][j].finish);
      EXPECT_EQ(par[i][j].seed, sample_seed(7, "unit", reqs[i].problem_id, static_cast<int>(j)));
    }
  }
  for (const auto& c : seq[3]) EXPECT_EQ(c.text.find('.'), std::string::npos) << "cut before the stop string";
}

TEST(NativeBackend, CancelledRequestReportsOnlyFinishedSamples) {
  NativeOptions o;
  o.threads = 2;
  auto b = make_native_backend(test::models_dir() + "/tiny-random-qwen2", o);
  std::atomic<bool> cancel{true};
  GenerationRequest r = story_request(1.0, 100000, {0, 1, 2});
  r.cancel = &cancel;
  std::atomic<int> reported{0};
  auto out = b->generate(r, [&](const Completion&) { ++reported; });
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(reported.load(), 0);
  cancel = false;
  r.sampling.max_new_tokens = 4;
  EXPECT_EQ(b->generate(r).size(), 3u);
}

TEST(NativeBackend, KvBudgetTooSmallIsAClearSampleError) {
  NativeOptions o;
  o.kv_memory = 64 << 10;  // tinystories: 2 layers x K/V x 16 positions x 4 heads x 16 x 4 B = 16 KiB a block -> 4
  auto b = make_native_backend(test::models_dir() + "/tinystories-656k", o);
  auto out = b->generate(story_request(0.0, 100, {0, 1}));
  ASSERT_EQ(out.size(), 2u);
  for (const auto& c : out) {
    EXPECT_EQ(c.finish, FinishReason::error);
    EXPECT_NE(c.error.find("KV cache too small"), std::string::npos) << c.error;
  }
  EXPECT_TRUE(b->generate(story_request(0.0, 10, {0}))[0].error.empty());
}

TEST(NativeBackend, OptionsFromJsonAndTheFactory) {
  NativeOptions o = native_options_from_json(
      {{"kv_memory", "2GiB"}, {"max_batch", 32}, {"max_step_tokens", 256}, {"block_size", 32}, {"prefix_cache", false}});
  EXPECT_EQ(o.kv_memory, 2LL << 30);
  EXPECT_EQ(o.max_running, 32);
  EXPECT_EQ(o.max_step_tokens, 256);
  EXPECT_EQ(o.block_size, 32);
  EXPECT_FALSE(o.prefix_cache);
  EXPECT_EQ(native_options_from_json({{"kv_memory", 1048576}}).kv_memory, 1048576);
  auto expect_error = [](const nlohmann::json& j, const std::string& what) {
    try {
      native_options_from_json(j);
      ADD_FAILURE() << "accepted " << j.dump();
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  expect_error({{"kv_memory", "lots"}}, "invalid memory size");
  expect_error({{"max_running", "many"}}, "max_running");
  expect_error({{"max_runing", 4}}, "unknown field 'max_runing'");
  expect_error({{"block_size", 0}}, "block_size");
  EXPECT_TRUE(has_backend("native"));
  BackendOptions bo;
  bo.model = test::models_dir() + "/tinystories-656k";
  bo.threads = 1;
  bo.native = {{"kv_memory", "8MiB"}};
  auto b = make_backend("native", bo);
  EXPECT_EQ(b->info().device, "cpu (1 threads)");
  bo.model = "/nonexistent-model-dir";
  EXPECT_THROW(make_backend("native", bo), Error);
}

}  // namespace
}  // namespace reval
