// A run's stored configuration across resumes, shards and merges (harness/run_config.hpp): --shard parsing and the
// position split, which config differences refuse a resume or merge (each with a positive twin that is accepted),
// and how accepted ones are united (tasks, k, problems, shards, limit).
#include <gtest/gtest.h>

#include <set>

#include <nlohmann/json.hpp>

#include "base/error.hpp"
#include "harness/run_config.hpp"

using namespace reval;
using nlohmann::json;

namespace {

json config(int k = 4, json shard = nullptr) {
  json c = {{"tasks", {{{"task", "math500"}, {"samples", k}, {"problems", 10}, {"grader", "math"}, {"filters", json::object()}}}},
            {"sampling", {{"temperature", 0.6}, {"top_p", 0.95}, {"max_new_tokens", 100}, {"stop", json::array()}}},
            {"system_prompt", nullptr},
            {"prompt_template", ""},
            {"chat_template", ""},
            {"chat_template_id", ""},
            {"data_dir", "/data/a"},
            {"limit", 10}};
  if (!shard.is_null()) c["shard"] = shard;
  return c;
}

std::string error_of(const json& a, const json& b) {
  try {
    combine_run_configs(a, b, "run 'r'");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Shard, ParsesAndSplitsByPosition) {
  ShardSpec s = parse_shard("2/4");
  EXPECT_EQ(s.index, 2);
  EXPECT_EQ(s.count, 4);
  EXPECT_EQ(s.label(), "2/4");
  for (const char* bad : {"0/4", "5/4", "2", "a/4", "2/0", "-1/4", "2/4/1", "/4", "2/"})
    EXPECT_THROW(parse_shard(bad), Error) << bad;
  // Every position is in exactly one shard, shards are balanced, and a longer list keeps each position's shard.
  std::vector<std::set<size_t>> parts(4);
  for (int i = 1; i <= 4; ++i)
    for (size_t p = 0; p < 10; ++p)
      if (parse_shard(std::to_string(i) + "/4").holds(p)) parts[i - 1].insert(p);
  std::set<size_t> all;
  for (const auto& part : parts) {
    EXPECT_GE(part.size(), 2u);
    EXPECT_LE(part.size(), 3u);
    for (size_t p : part) EXPECT_TRUE(all.insert(p).second) << p << " in two shards";
  }
  EXPECT_EQ(all.size(), 10u);
  EXPECT_TRUE(ShardSpec{}.holds(7)) << "not sharded: every problem";
}

TEST(RunConfig, WhatChangesASampleRefusesAndItsTwinIsAccepted) {
  json base = config();
  EXPECT_EQ(error_of(base, config()), "");

  json temp = config();
  temp["sampling"]["temperature"] = 0.0;
  EXPECT_NE(error_of(base, temp).find("sampling"), std::string::npos);

  json system = config();
  system["system_prompt"] = "Be brief.";
  EXPECT_NE(error_of(base, system).find("system_prompt"), std::string::npos);
  EXPECT_EQ(error_of(system, system), "");
  json no_key = config();
  no_key.erase("system_prompt");  // a run stored before the key existed: the same as none
  EXPECT_EQ(error_of(no_key, base), "");

  json filters = config();
  filters["tasks"][0]["filters"] = {{"release", "v1"}};
  EXPECT_NE(error_of(base, filters).find("task math500 filters"), std::string::npos);

  json shards = config(4, {{"count", 4}, {"indices", {1}}});
  json other_count = config(4, {{"count", 2}, {"indices", {1}}});
  EXPECT_NE(error_of(shards, other_count).find("shard count"), std::string::npos);

  // Provenance may differ (another machine's data dir, other servers).
  json other_dir = config();
  other_dir["data_dir"] = "/data/b";
  other_dir["backend_details"] = {{"servers", {"http://b/v1"}}};
  json combined = combine_run_configs(base, other_dir, "r");
  EXPECT_EQ(combined["data_dir"], "/data/a");
}

TEST(RunConfig, ExtensionsAreUnited) {
  json stored = config(4);
  json wanted = config(8);
  wanted["tasks"].push_back({{"task", "aime24"}, {"samples", 64}, {"problems", 30}, {"grader", "math"},
                             {"filters", json::object()}});
  wanted["limit"] = 0;
  json c = combine_run_configs(stored, wanted, "r");
  ASSERT_EQ(c["tasks"].size(), 2u);
  EXPECT_EQ(c["tasks"][0]["samples"], 8);
  EXPECT_EQ(c["tasks"][1]["task"], "aime24");
  EXPECT_EQ(c["limit"], 0);
  auto changes = config_changes(stored, c);
  ASSERT_EQ(changes.size(), 3u);
  EXPECT_EQ(changes[0], "math500: k 4 -> 8");
  EXPECT_EQ(changes[1], "task aime24 added (k=64, 30 problems)");
  EXPECT_EQ(changes[2], "limit 10 -> 0");
  // A smaller k or limit later keeps what the run holds.
  json back = combine_run_configs(c, config(2), "r");
  EXPECT_EQ(back["tasks"][0]["samples"], 8);
  EXPECT_EQ(back["limit"], 0);
  EXPECT_TRUE(config_changes(c, back).empty());
}

TEST(RunConfig, ShardsUniteUntilComplete) {
  json c = config(4, {{"count", 3}, {"indices", {2}}});
  c = combine_run_configs(c, config(4, {{"count", 3}, {"indices", {1}}}), "r");
  EXPECT_EQ(c["shard"], (json{{"count", 3}, {"indices", {1, 2}}}));
  c = combine_run_configs(c, config(4, {{"count", 3}, {"indices", {2}}}), "r");  // again: no change
  EXPECT_EQ(c["shard"]["indices"], (json{1, 2}));
  json done = combine_run_configs(c, config(4, {{"count", 3}, {"indices", {3}}}), "r");
  EXPECT_FALSE(done.contains("shard")) << done.dump();
  EXPECT_EQ(config_changes(c, done).back(), "every shard present");
  // An unsharded run resumed with a shard still holds everything.
  EXPECT_FALSE(combine_run_configs(config(), config(4, {{"count", 3}, {"indices", {1}}}), "r").contains("shard"));
}
