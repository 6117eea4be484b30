// End-to-end checks of `reval tasks`, `reval show` and `reval data fetch` through the built binary (skipped when the
// binary has not been built in this build tree).
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <map>

#include <nlohmann/json.hpp>

#include "tests/test_util.hpp"

namespace {

struct CliRun {
  int status;
  std::string out;
};

CliRun run(const std::string& args) {
  std::string cmd = reval::test::reval_binary() + " " + args + " 2>/dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  CliRun r{-1, ""};
  if (!p) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

bool have_binary() { return std::filesystem::exists(reval::test::reval_binary()); }

}  // namespace

TEST(TasksCli, ListsCountsAsJson) {
  if (!have_binary()) GTEST_SKIP() << "reval binary not built";
  CliRun r = run("tasks --json --data-dir " + reval::test::shared_path("data"));
  ASSERT_EQ(r.status, 0);
  auto j = nlohmann::json::parse(r.out);
  std::map<std::string, nlohmann::json> by;
  for (const auto& t : j["tasks"]) by[t["name"]] = t;
  EXPECT_EQ(by["math500"]["problems"], 500);
  EXPECT_EQ(by["aime24"]["problems"], 30);
  EXPECT_EQ(by["aime25"]["problems"], 30);
  EXPECT_EQ(by["gpqa_diamond"]["problems"], 198);
  EXPECT_EQ(by["mmlu"]["problems"], 14042);
  EXPECT_EQ(by["gsm8k"]["problems"], 1319);
  EXPECT_EQ(by["humaneval"]["problems"], 164);
  EXPECT_EQ(by["livecodebench"]["available"], false);
}

TEST(TasksCli, ShowPrintsThePrompt) {
  if (!have_binary()) GTEST_SKIP() << "reval binary not built";
  CliRun r = run("show aime25 2025-I-1 --data-dir " + reval::test::shared_path("data"));
  ASSERT_EQ(r.status, 0);
  EXPECT_EQ(r.out, "Find the sum of all integer bases $b>9$ for which $17_b$ is a divisor of $97_b.$\n"
                   "Please reason step by step, and put your final answer within \\boxed{}.\n");
  CliRun lcb = run(std::string("show livecodebench 3310 --json --data-dir ") + REVAL_TASKS_FIXTURES);
  ASSERT_EQ(lcb.status, 0);
  auto j = nlohmann::json::parse(lcb.out);
  EXPECT_EQ(j["grading"]["fn_name"], "countVowels");
  EXPECT_NE(run("show aime25 2025-I-99 --data-dir " + reval::test::shared_path("data")).status, 0);
  EXPECT_NE(run("data fetch gsm8k --data-dir /nonexistent-reval-dir").status, 0);  // no hub source: error
}

TEST(TasksCli, ShowWithoutIdListsProblemIds) {
  if (!have_binary()) GTEST_SKIP() << "reval binary not built";
  CliRun ids = run("show aime25 --data-dir " + reval::test::shared_path("data"));
  ASSERT_EQ(ids.status, 0);
  size_t lines = 0;
  for (char c : ids.out) lines += c == '\n';
  EXPECT_EQ(lines, 30u);
  EXPECT_EQ(ids.out.rfind("2025-I-1\n", 0), 0u) << ids.out.substr(0, 40);
  CliRun js = run("show math500 --json --data-dir " + reval::test::shared_path("data"));
  ASSERT_EQ(js.status, 0);
  auto j = nlohmann::json::parse(js.out);
  ASSERT_EQ(j["problems"].size(), 500u);
  EXPECT_TRUE(j["problems"][0]["metadata"].contains("level"));
  EXPECT_NE(run("show nosuchtask --data-dir " + reval::test::shared_path("data")).status, 0);
}
