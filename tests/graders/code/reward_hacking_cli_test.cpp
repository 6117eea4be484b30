// The reward-hacking table through `reval grade --grader code` (another path to the same verdicts: the table's
// lines are grade input lines). Label slow: it grades the whole table again.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "base/jsonl.hpp"
#include "tests/test_util.hpp"

using nlohmann::json;

TEST(RewardHackingCli, GradeCommandGivesTheTableVerdicts) {
  if (!std::filesystem::exists(reval::test::reval_binary())) GTEST_SKIP() << "reval binary not built";
  reval::test::TempDir dir;
  std::string table = reval::test::source_dir() + "/tests/graders/code/data/reward_hacking.jsonl";
  std::string cmd = reval::test::reval_binary() + " grade --grader code --threads 2 --input " + table + " --output " +
                    dir.file("out.jsonl") + " 2> " + dir.file("err.txt");
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  int n = 0;
  reval::for_each_jsonl_file(dir.file("out.jsonl"), [&](reval::JsonlLine& line) {
    ASSERT_TRUE(line.value) << line.error;
    const json& r = *line.value;
    ++n;
    EXPECT_EQ(r["verdict"], r["expect"]) << r["case"] << ": " << r["details"].dump().substr(0, 1500);
    EXPECT_EQ(r["score"].get<double>(), r["expect"] == "correct" ? 1.0 : 0.0) << r["case"];
  });
  EXPECT_GE(n, 40);
}
