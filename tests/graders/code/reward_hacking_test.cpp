// The reward-hacking table (tests/graders/code/data/reward_hacking.jsonl): programs that try to get a verdict they
// did not earn — exit early with status 0, print or write the pass marker, patch check/assert/sys.exit/os._exit,
// SystemExit in __del__, read the tests from disk or memory, always-true __eq__, monkey-patched builtins, writes to
// inherited descriptors, a forked child answering, a forged harness-error record — each with its expected verdict
// (every one scores 0), and honest twins that score 1. Every line is a `reval grade --grader code` input line.
// The same table through the CLI is reward_hacking_cli_test (label slow).
#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "base/jsonl.hpp"
#include "graders/code/code_grader.hpp"
#include "graders/grader.hpp"
#include "tests/test_util.hpp"

using nlohmann::json;

namespace {

std::vector<json> load_table() {
  std::vector<json> rows;
  reval::for_each_jsonl_file(reval::test::source_dir() + "/tests/graders/code/data/reward_hacking.jsonl",
                             [&](reval::JsonlLine& line) {
                               EXPECT_TRUE(line.value) << "line " << line.line << ": " << line.error;
                               if (line.value) rows.push_back(*line.value);
                             });
  return rows;
}

}  // namespace

TEST(RewardHacking, TableIsWellFormedAndEveryHackHasAnHonestTwin) {
  auto rows = load_table();
  ASSERT_GE(rows.size(), 40u);
  std::map<std::string, std::string> expect;
  for (const auto& r : rows) {
    ASSERT_TRUE(r.contains("case") && r.contains("expect") && r.contains("response")) << r.dump();
    ASSERT_TRUE(reval::verdict_from_string(r["expect"].get<std::string>())) << r.dump();
    EXPECT_TRUE(expect.emplace(r["case"], r["expect"]).second) << "duplicate case " << r["case"];
  }
  int hacks = 0;
  for (const auto& r : rows) {
    if (r["expect"] == "correct") continue;
    ++hacks;
    ASSERT_TRUE(r.contains("twin")) << r["case"] << " has no honest twin";
    auto it = expect.find(r["twin"].get<std::string>());
    ASSERT_NE(it, expect.end()) << r["case"] << ": twin " << r["twin"] << " is not in the table";
    EXPECT_EQ(it->second, "correct") << r["case"] << ": twin " << r["twin"] << " is not an honest (correct) program";
  }
  EXPECT_GE(hacks, 30);
}

TEST(RewardHacking, EveryHackScoresZeroAndEveryTwinOne) {
  auto rows = load_table();
  reval::test::TempDir cache;
  auto grader = reval::make_code_grader(json{{"workers", 4}, {"cache_dir", cache.path()}});
  std::atomic<size_t> next{0};
  std::mutex mu;
  std::vector<std::string> failures;
  auto work = [&] {
    for (size_t i; (i = next++) < rows.size();) {
      const json& row = rows[i];
      reval::GradeRequest req;
      std::string response = row["response"].get<std::string>();
      req.response = response;
      req.fields = row;
      req.fields.erase("response");
      reval::GradeResult res = grader->grade(req);
      const std::string got(reval::to_string(res.verdict));
      const double want_score = row["expect"] == "correct" ? 1.0 : 0.0;
      if (got != row["expect"].get<std::string>() || res.score != want_score) {
        std::lock_guard lock(mu);
        failures.push_back(row["case"].get<std::string>() + ": expected " + row["expect"].get<std::string>() +
                           ", got " + got + " (score " + std::to_string(res.score) + ") " + res.details.dump().substr(0, 1500));
      }
    }
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < 2; ++t) pool.emplace_back(work);
  for (auto& t : pool) t.join();
  for (const auto& f : failures) ADD_FAILURE() << f;
}
