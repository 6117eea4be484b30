// Presets: the shipped r1 preset, lookup by name and by path, and strict validation of hand-written files.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>

#include "base/error.hpp"
#include "tasks/preset.hpp"
#include "tasks/task.hpp"
#include "tests/test_util.hpp"

using namespace reval;

TEST(Preset, R1) {
  Preset p = load_preset("r1");
  EXPECT_EQ(p.id, "r1");
  EXPECT_EQ(p.version, 1);
  EXPECT_EQ(p.label(), "r1@v1");
  EXPECT_DOUBLE_EQ(p.temperature, 0.6);
  EXPECT_DOUBLE_EQ(p.top_p, 0.95);
  EXPECT_EQ(p.max_new_tokens, 32768);
  std::map<std::string, PresetTask> t;
  for (const auto& x : p.tasks) t[x.task] = x;
  ASSERT_EQ(t.size(), 6u);
  EXPECT_EQ(t["aime24"].k, 64);
  EXPECT_EQ(t["math500"].k, 4);
  EXPECT_EQ(t["gpqa_diamond"].k, 8);
  EXPECT_EQ(t["livecodebench"].k, 16);
  EXPECT_EQ(t["livecodebench"].filters, (nlohmann::json{{"date_from", "2024-08-01"}, {"date_to", "2025-01-31"}}));
  EXPECT_EQ(t["mmlu"].k, 1);
  EXPECT_EQ(t["codeforces"].k, 8);
  auto names = preset_names();
  EXPECT_NE(std::find(names.begin(), names.end(), "r1"), names.end());
  // The preset's filters are accepted by the loaders (LCB fixture, R1 window).
  LoadOptions o;
  o.data_dir = REVAL_TASKS_FIXTURES;
  o.filters = t["livecodebench"].filters;
  EXPECT_EQ(load_task("livecodebench", o).size(), 10u);
}

TEST(Preset, ByPathAndValidation) {
  test::TempDir dir;
  std::string path = dir.file("mine.json");
  std::ofstream(path) << R"({"id": "mine", "version": 3, "tasks": [{"task": "gsm8k"}, {"task": "aime25", "k": 8}]})";
  Preset p = load_preset(path);
  EXPECT_EQ(p.label(), "mine@v3");
  ASSERT_EQ(p.tasks.size(), 2u);
  EXPECT_EQ(p.tasks[0].k, task_info("gsm8k").default_samples);
  EXPECT_EQ(p.tasks[1].k, 8);
  EXPECT_EQ(p.path, path);

  auto expect_bad = [&](const std::string& text, const std::string& fragment) {
    std::ofstream(path) << text;
    try {
      load_preset(path);
      ADD_FAILURE() << "accepted: " << text;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  expect_bad(R"({"id": "x", "version": 1, "tasks": [{"task": "aime99"}]})", "tasks[0].task");
  expect_bad(R"({"id": "x", "version": 1, "tasks": [{"task": "aime24", "k": 0}]})", "tasks[0].k");
  expect_bad(R"({"id": "x", "version": 1, "tasks": [{"task": "aime24", "kk": 2}]})", "tasks[0].kk");
  expect_bad(R"({"id": "x", "version": 1, "sampling": {"top_p": 1.5}, "tasks": [{"task": "aime24"}]})",
             "sampling.top_p");
  expect_bad(R"({"id": "x", "tasks": [{"task": "aime24"}]})", "version");
  expect_bad(R"({"id": "x", "version": 1, "tasks": []})", "tasks");
  expect_bad(R"({"id": "x", "version": 1, "tasks": [{"task": "aime24"}, {"task": "aime24"}]})", "twice");
  expect_bad("{not json", "invalid JSON");
  EXPECT_THROW(load_preset("no_such_preset"), Error);
}

// sampling.stop and system_prompt: read when given, absent (R1) by default, and checked like every other field.
TEST(Preset, StopStringsAndSystemPrompt) {
  Preset r1 = load_preset("r1");
  EXPECT_TRUE(r1.stop.empty());
  EXPECT_FALSE(r1.system_prompt.has_value()) << "the R1 protocol has no system prompt";

  test::TempDir dir;
  std::string path = dir.file("stops.json");
  std::ofstream(path) << R"({"id": "s", "version": 1, "system_prompt": "Be brief.",
      "sampling": {"temperature": 0.0, "stop": ["</answer>", "\n\nQ:"]}, "tasks": [{"task": "gsm8k"}]})";
  Preset p = load_preset(path);
  EXPECT_EQ(p.stop, (std::vector<std::string>{"</answer>", "\n\nQ:"}));
  ASSERT_TRUE(p.system_prompt.has_value());
  EXPECT_EQ(*p.system_prompt, "Be brief.");
  EXPECT_DOUBLE_EQ(p.temperature, 0.0);

  auto expect_bad = [&](const std::string& text, const std::string& fragment) {
    std::ofstream(path) << text;
    try {
      load_preset(path);
      ADD_FAILURE() << "accepted: " << text;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  expect_bad(R"({"id": "x", "version": 1, "sampling": {"stop": "</a>"}, "tasks": [{"task": "gsm8k"}]})",
             "sampling.stop");
  expect_bad(R"({"id": "x", "version": 1, "sampling": {"stop": ["ok", 3]}, "tasks": [{"task": "gsm8k"}]})",
             "sampling.stop[1]");
  expect_bad(R"({"id": "x", "version": 1, "sampling": {"stop": [""]}, "tasks": [{"task": "gsm8k"}]})",
             "sampling.stop[0]");
  expect_bad(R"({"id": "x", "version": 1, "system_prompt": 1, "tasks": [{"task": "gsm8k"}]})", "system_prompt");
}
