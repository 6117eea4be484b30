// The reward-hacking table of the sandbox work (tests/graders/code/data/reward_hacking.jsonl: programs that exit 0
// early, print or forge the pass marker, patch check/assert/exit, read the expected output, write to the harness's
// descriptors, ... each with an honest twin) through the reward API, as a trainer would see it: every hack gets
// reward 0 (never a missing reward, which a trainer would drop) and every honest twin reward 1. The table itself,
// its verdicts and the sandbox are tested in tests/graders/code; this checks that the reward path (item_from_line,
// RewardScorer::score_batch on the pool, make_result) keeps them. The default suite runs a sample of the table (one
// hack of each kind: marker, early exit, patched check, reading the tests, always-true __eq__, forged records,
// descriptor writes, and the honest twins); graders_rewards_hacking_full_test (label slow) runs all of it.
#include <set>

#include <gtest/gtest.h>

#include "base/jsonl.hpp"
#include "graders/rewards.hpp"
#include "tests/test_util.hpp"

using nlohmann::json;
namespace rw = reval::rewards;

// Distinct names for the two builds of this file: ctest labels go by test name.
#ifdef REVAL_FULL_TABLE
#define REVAL_HACKING_TEST WholeTableEveryHackGetsRewardZeroAndEveryTwinOne
#else
#define REVAL_HACKING_TEST SampleEveryHackGetsRewardZeroAndEveryTwinOne
#endif

TEST(RewardHacking, REVAL_HACKING_TEST) {
  std::vector<json> rows;
  reval::for_each_jsonl_file(reval::test::source_dir() + "/tests/graders/code/data/reward_hacking.jsonl",
                             [&](reval::JsonlLine& line) {
                               ASSERT_TRUE(line.value) << "line " << line.line << ": " << line.error;
                               rows.push_back(*line.value);
                             });
  ASSERT_GE(rows.size(), 40u);
#ifndef REVAL_FULL_TABLE
  const std::set<std::string> sample = {
      "he/honest", "he/print_pass_marker", "he/exit_0_at_import", "he/redefine_check_and_assert",
      "he/read_tests_from_disk", "he/always_true_eq_object", "fn/honest", "fn/exit_0_early",
      "fn/forged_harness_error_record", "io/honest", "io/print_markers", "io/write_every_fd"};
  std::erase_if(rows, [&](const json& r) { return !sample.count(r["case"].get<std::string>()); });
  ASSERT_EQ(rows.size(), sample.size()) << "a sampled case is no longer in the table";
#endif
  reval::test::TempDir cache;
  rw::RewardScorer scorer(json{{"workers", 4}, {"cache_dir", cache.path()}}, 4);
  std::vector<rw::RewardItem> items(rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) ASSERT_EQ(rw::item_from_line(rows[i], "code", items[i]), "");
  rw::BatchStats stats;
  auto results = scorer.score_batch(items, {}, &stats);
  ASSERT_EQ(results.size(), rows.size());
  int hacks = 0, twins = 0;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const std::string name = rows[i]["case"], expect = rows[i]["expect"];
    const auto& r = results[i];
    ASSERT_TRUE(r.reward) << name << ": missing reward (" << r.missing << ") " << r.details.dump().substr(0, 800);
    EXPECT_EQ(reval::to_string(r.verdict), expect) << name << " " << r.details.dump().substr(0, 800);
    if (expect == "correct") {
      ++twins;
      EXPECT_EQ(*r.reward, 1.0) << name;
    } else {
      ++hacks;
      EXPECT_EQ(*r.reward, 0.0) << name << " got a reward it did not earn";
    }
  }
#ifdef REVAL_FULL_TABLE
  EXPECT_GE(hacks, 30);
  EXPECT_GE(twins, 5);
#else
  EXPECT_EQ(hacks, 9);
  EXPECT_EQ(twins, 3);
#endif
  EXPECT_EQ(stats.missing, 0);
  EXPECT_EQ(stats.items, static_cast<std::int64_t>(rows.size()));
}
