// Acceptance on HumanEval: every canonical solution is judged correct, and a wrong variant of each (the body
// replaced by `return None`) is judged wrong. Reads ../shared/data/humaneval/HumanEval.jsonl.gz; skips visibly when
// the data is absent.
#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "graders/code/code_grader.hpp"
#include "base/jsonl.hpp"
#include "tests/test_util.hpp"

using nlohmann::json;

TEST(HumanEval, CanonicalCorrectAndWrongVariantWrong) {
  std::string path = reval::test::shared_path("data/humaneval/HumanEval.jsonl.gz");
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "missing " << path;
  std::vector<json> problems;
  reval::for_each_jsonl_file(path, [&](reval::JsonlLine& line) {
    ASSERT_TRUE(line.value) << line.error;
    problems.push_back(*line.value);
  });
  ASSERT_EQ(problems.size(), 164u);
  reval::test::TempDir cache;
  unsigned threads = std::max(2u, std::thread::hardware_concurrency());
  auto grader = reval::make_code_grader(json{{"workers", threads}, {"cache_dir", cache.path()}});
  std::atomic<size_t> next{0};
  std::mutex mu;
  std::vector<std::string> failures;
  auto t0 = std::chrono::steady_clock::now();
  auto work = [&] {
    for (size_t i; (i = next++) < problems.size() * 2;) {
      const json& p = problems[i / 2];
      bool canonical = i % 2 == 0;
      reval::GradeRequest req;
      std::string response = canonical ? p["canonical_solution"].get<std::string>() : std::string("    return None\n");
      req.response = response;
      req.fields = {{"prompt", p["prompt"]}, {"test", p["test"]}, {"entry_point", p["entry_point"]}};
      auto res = grader->grade(req);
      reval::Verdict want = canonical ? reval::Verdict::correct : reval::Verdict::wrong;
      if (res.verdict != want) {
        std::lock_guard lock(mu);
        failures.push_back(p["task_id"].get<std::string>() + (canonical ? " canonical: " : " wrong variant: ") +
                           std::string(reval::to_string(res.verdict)) + " " + res.details.dump());
      }
    }
  };
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t) pool.emplace_back(work);
  for (auto& t : pool) t.join();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("HumanEval: 328 programs judged in %.1f s\n", secs);
  EXPECT_TRUE(failures.empty()) << failures.size() << " mismatches, first: " << failures.front();
}
