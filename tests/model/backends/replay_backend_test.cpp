// Tests for the replay backend and the backend factory/registry.
//
// Theory of operation: each test writes a small JSONL file into a TempDir, builds the backend through
// make_backend("replay", ...) (so the factory path is exercised too) and checks the completions it serves, or the
// reval::Error text (file:line: field) for malformed files.
#include <atomic>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "model/backends.hpp"
#include "model/backends/replay_backend.hpp"
#include "base/error.hpp"
#include "tests/test_util.hpp"

namespace reval {
namespace {

using ::testing::HasSubstr;

std::string write(const test::TempDir& dir, const std::string& name, const std::string& text) {
  std::string path = dir.file(name);
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

std::unique_ptr<Backend> replay(const std::string& path) {
  BackendOptions o;
  o.replay_file = path;
  return make_backend("replay", o);
}

GenerationRequest request(const std::string& task, const std::string& pid, std::vector<int> idx) {
  GenerationRequest r;
  r.task = task;
  r.problem_id = pid;
  r.messages = {{"user", "question"}};
  r.sample_indices = std::move(idx);
  r.sampling.seed = 7;
  return r;
}

// Message of the reval::Error thrown while loading `text`; "" if loading succeeded.
std::string load_error(const std::string& text, std::string* path_out = nullptr) {
  test::TempDir dir;
  std::string path = write(dir, "bad.jsonl", text);
  if (path_out) *path_out = path;
  try {
    replay(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(ReplayBackend, ServesStoredCompletionsWithAllFields) {
  test::TempDir dir;
  std::string path = write(dir, "r.jsonl",
                           R"({"task":"aime","problem_id":"p1","sample_index":1,"completion":"one","finish_reason":"length","prompt_tokens":10,"completion_tokens":20,"extra":"ignored"})"
                           "\n"
                           R"({"task":"aime","problem_id":"p1","sample_index":0,"completion":"zero","seed":99,"latency_s":1.5})"
                           "\n\n"
                           R"({"task":"math","problem_id":"p1","sample_index":0,"completion":"other task"})"
                           "\n");
  auto b = replay(path);
  EXPECT_EQ(b->info().backend, "replay");
  EXPECT_EQ(b->info().model, "replay:" + path);
  EXPECT_GT(b->max_concurrency(), 1);

  std::vector<int> seen;
  auto out = b->generate(request("aime", "p1", {0, 1}), [&](const Completion& c) { seen.push_back(c.sample_index); });
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(seen, (std::vector<int>{0, 1}));
  EXPECT_EQ(out[0].sample_index, 0);
  EXPECT_EQ(out[0].text, "zero");
  EXPECT_EQ(out[0].seed, 99u);
  EXPECT_DOUBLE_EQ(out[0].latency_s, 1.5);
  EXPECT_EQ(out[0].finish, FinishReason::stop);
  EXPECT_EQ(out[0].prompt_tokens, -1);
  EXPECT_TRUE(out[0].error.empty());
  EXPECT_EQ(out[1].text, "one");
  EXPECT_EQ(out[1].finish, FinishReason::length);
  EXPECT_EQ(out[1].prompt_tokens, 10);
  EXPECT_EQ(out[1].completion_tokens, 20);
  EXPECT_EQ(out[1].seed, sample_seed(7, "aime", "p1", 1));

  auto other = b->generate(request("math", "p1", {0}));
  ASSERT_EQ(other.size(), 1u);
  EXPECT_EQ(other[0].text, "other task");
}

TEST(ReplayBackend, AutoIndicesFollowFileOrderPerProblem) {
  test::TempDir dir;
  std::string path = write(dir, "r.jsonl",
                           R"({"task":"t","problem_id":"a","completion":"a0"})"
                           "\n"
                           R"({"task":"t","problem_id":"b","completion":"b0"})"
                           "\n"
                           R"({"task":"t","problem_id":"a","completion":"a1"})"
                           "\n"
                           R"({"task":"t","problem_id":"a","completion":"a2"})"
                           "\n"
                           R"({"task":"t","problem_id":"b","completion":"b1"})"
                           "\n");
  auto b = replay(path);
  auto a = b->generate(request("t", "a", {2, 0, 1}));
  ASSERT_EQ(a.size(), 3u);
  EXPECT_EQ(a[0].sample_index, 2);
  EXPECT_EQ(a[0].text, "a2");
  EXPECT_EQ(a[1].text, "a0");
  EXPECT_EQ(a[2].text, "a1");
  auto bb = b->generate(request("t", "b", {1}));
  EXPECT_EQ(bb[0].text, "b1");
}

TEST(ReplayBackend, MissingIndexIsAnErrorSampleNotAThrow) {
  test::TempDir dir;
  std::string path = write(dir, "r.jsonl", R"({"task":"t","problem_id":"p","sample_index":0,"completion":"x"})" "\n");
  auto b = replay(path);
  std::vector<Completion> out;
  ASSERT_NO_THROW(out = b->generate(request("t", "p", {0, 5})));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_TRUE(out[0].error.empty());
  EXPECT_EQ(out[1].sample_index, 5);
  EXPECT_EQ(out[1].error, "replay: no completion for t/p/5");
  EXPECT_EQ(out[1].finish, FinishReason::error);
  auto unknown = b->generate(request("t", "nope", {0}));
  EXPECT_EQ(unknown[0].error, "replay: no completion for t/nope/0");
}

TEST(ReplayBackend, RecordedErrorIsReplayedAsError) {
  test::TempDir dir;
  std::string path =
      write(dir, "r.jsonl", R"({"task":"t","problem_id":"p","completion":"","finish_reason":"error","error":"boom"})" "\n");
  auto out = replay(path)->generate(request("t", "p", {0}));
  EXPECT_EQ(out[0].error, "boom");
  EXPECT_EQ(out[0].finish, FinishReason::error);
}

TEST(ReplayBackend, MalformedLinesNameFileLineAndField) {
  const std::string good = R"({"task":"t","problem_id":"p","completion":"x"})" "\n";
  std::string path;
  std::string e = load_error(good + "{not json}\n", &path);
  EXPECT_THAT(e, HasSubstr(path + ":2"));
  EXPECT_THAT(e, HasSubstr("invalid JSON"));

  e = load_error(good + good + R"({"task":"t","problem_id":"p"})" "\n", &path);
  EXPECT_THAT(e, HasSubstr(path + ":3: field 'completion'"));
  EXPECT_THAT(e, HasSubstr("missing"));

  e = load_error(R"({"task":"t","problem_id":7,"completion":"x"})" "\n");
  EXPECT_THAT(e, HasSubstr(":1: field 'problem_id'"));
  EXPECT_THAT(e, HasSubstr("expected a string"));

  e = load_error(R"({"task":"t","problem_id":"p","completion":"x","sample_index":"0"})" "\n");
  EXPECT_THAT(e, HasSubstr(":1: field 'sample_index'"));

  e = load_error(R"({"task":"t","problem_id":"p","completion":"x","sample_index":-1})" "\n");
  EXPECT_THAT(e, HasSubstr(":1: field 'sample_index'"));

  e = load_error(R"({"task":"t","problem_id":"p","completion":"x","sample_index":1.5})" "\n");
  EXPECT_THAT(e, HasSubstr(":1: field 'sample_index'"));

  e = load_error(R"({"task":"t","problem_id":"p","completion":"x","finish_reason":"done"})" "\n");
  EXPECT_THAT(e, HasSubstr(":1: field 'finish_reason'"));

  e = load_error(R"({"task":"t","problem_id":"p","completion":"x","prompt_tokens":"12"})" "\n");
  EXPECT_THAT(e, HasSubstr(":1: field 'prompt_tokens'"));

  e = load_error(R"({"task":"t","problem_id":"p","completion":"x","completion_tokens":-5})" "\n");
  EXPECT_THAT(e, HasSubstr(":1: field 'completion_tokens'"));

  e = load_error("[1,2]\n");
  EXPECT_THAT(e, HasSubstr(":1"));
  EXPECT_THAT(e, HasSubstr("expected a JSON object"));

  e = load_error(good + "{\"task\":\"t\",\"problem_id\":\"p\",\"completion\":\"bad \xC3\x28 byte\"}\n", &path);
  EXPECT_THAT(e, HasSubstr(path + ":2: field 'completion'"));
  EXPECT_THAT(e, HasSubstr("UTF-8"));
}

TEST(ReplayBackend, DuplicateSampleIsAnError) {
  std::string e = load_error(R"({"task":"t","problem_id":"p","completion":"x"})" "\n"
                             R"({"task":"t","problem_id":"q","completion":"y"})" "\n"
                             R"({"task":"t","problem_id":"p","sample_index":0,"completion":"z"})" "\n");
  EXPECT_THAT(e, HasSubstr(":3: field 'sample_index'"));
  EXPECT_THAT(e, HasSubstr("duplicate sample t/p/0"));
  EXPECT_THAT(e, HasSubstr("first at line 1"));

  // An explicit index first, then an auto index landing on it.
  e = load_error(R"({"task":"t","problem_id":"p","sample_index":0,"completion":"x"})" "\n"
                 R"({"task":"t","problem_id":"p","completion":"y"})" "\n");
  EXPECT_THAT(e, HasSubstr(":2: field 'sample_index'"));
}

TEST(ReplayBackend, MissingFileOrOptionThrows) {
  EXPECT_THROW(replay("/nonexistent/dir/replay.jsonl"), Error);
  EXPECT_THROW(replay(""), Error);
}

TEST(ReplayBackend, ConcurrentGenerateIsConsistent) {
  test::TempDir dir;
  std::string text;
  for (int p = 0; p < 20; ++p)
    for (int i = 0; i < 8; ++i)
      text += R"({"task":"t","problem_id":"p)" + std::to_string(p) + R"(","completion":"c)" + std::to_string(p) + "_" +
              std::to_string(i) + "\"}\n";
  auto b = replay(write(dir, "r.jsonl", text));
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (int rep = 0; rep < 50; ++rep) {
        int p = (t * 7 + rep) % 20;
        auto out = b->generate(request("t", std::string("p").append(std::to_string(p)), {0, 1, 2, 3, 4, 5, 6, 7}));
        for (int i = 0; i < 8; ++i)
          if (out[i].text != std::string("c").append(std::to_string(p)).append("_").append(std::to_string(i))) ++bad;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
}

TEST(BackendFactory, NativeIsBuiltInAndNeedsAModel) {
  ASSERT_TRUE(has_backend("native")) << "the engine's backend is part of the factory";
  EXPECT_THAT(backend_names(), ::testing::Contains("native"));
  try {
    make_backend("native", BackendOptions{});
    FAIL() << "expected reval::Error";
  } catch (const Error& e) {
    EXPECT_THAT(std::string(e.what()), HasSubstr("no model folder"));
  }
}

TEST(BackendFactory, UnknownNameListsKnownBackends) {
  try {
    make_backend("bogus", BackendOptions{});
    FAIL() << "expected reval::Error";
  } catch (const Error& e) {
    EXPECT_THAT(std::string(e.what()), HasSubstr("unknown backend 'bogus'"));
    EXPECT_THAT(std::string(e.what()), HasSubstr("openai"));
    EXPECT_THAT(std::string(e.what()), HasSubstr("replay"));
  }
}

class FakeBackend : public Backend {
 public:
  explicit FakeBackend(std::string model) : model_(std::move(model)) {}
  BackendInfo info() const override { return {"fake", model_, "", "", "", ""}; }
  std::vector<Completion> generate(const GenerationRequest&, const std::function<void(const Completion&)>&) override {
    return {};
  }

 private:
  std::string model_;
};

TEST(BackendFactory, RegisteredMakerIsUsedAndGetsTheOptions) {
  register_backend("fake-for-test", [](const BackendOptions& o) { return std::make_unique<FakeBackend>(o.model); });
  EXPECT_TRUE(has_backend("fake-for-test"));
  auto names = backend_names();
  EXPECT_THAT(names, ::testing::Contains("fake-for-test"));
  EXPECT_THAT(names, ::testing::Contains("openai"));
  BackendOptions o;
  o.model = "/models/x";
  auto b = make_backend("fake-for-test", o);
  EXPECT_EQ(b->info().backend, "fake");
  EXPECT_EQ(b->info().model, "/models/x");
  EXPECT_THROW(register_backend("", [](const BackendOptions& o) { return std::make_unique<FakeBackend>(o.model); }),
               Error);
}

TEST(BackendFactory, OpenAIOptionsAreValidated) {
  BackendOptions o;
  o.base_url = "ftp://example.com/v1";
  EXPECT_THROW(make_backend("openai", o), Error);
  o.base_url = "http://127.0.0.1:8000/v1";
  o.endpoint = "embeddings";
  EXPECT_THROW(make_backend("openai", o), Error);
  o.endpoint = "completions";
  auto b = make_backend("openai", o);
  EXPECT_EQ(b->info().backend, "openai");
  EXPECT_EQ(b->max_concurrency(), 8);
}

}  // namespace
}  // namespace reval
