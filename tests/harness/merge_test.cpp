// `reval merge` (harness/merge.hpp) on databases written through the store: shards become one run (every sample,
// grade and created_at, the config of the whole), an input merged twice adds nothing, a conflicting sample is
// reported and not overwritten, a failed sample is replaced by a generated one, and inputs that are not the same
// evaluation are refused before anything is written.
#include <gtest/gtest.h>

#include <filesystem>

#include <fmt/format.h>

#include "base/error.hpp"
#include "harness/merge.hpp"
#include "results/store.hpp"
#include "tests/test_util.hpp"

using namespace reval;
using nlohmann::json;

namespace {

json shard_config(int index, int count, int problems, double temperature = 0.6) {
  json c = {{"tasks", {{{"task", "math500"}, {"samples", 2}, {"problems", problems}, {"grader", "math"},
                        {"filters", json::object()}}}},
            {"sampling", {{"temperature", temperature}, {"top_p", 0.95}, {"max_new_tokens", 64}, {"stop", json::array()}}},
            {"system_prompt", nullptr},
            {"data_dir", fmt::format("/data/machine{}", index)},
            {"limit", 0}};
  if (count > 0) c["shard"] = {{"count", count}, {"indices", {index}}};
  return c;
}

// A database holding run "r" with the given problems (ids p<i>), 2 samples each, graded: sample text "\boxed{i}"
// (+ `suffix`), correct for sample 0.
void write_db(const std::string& path, const std::vector<int>& problems, json config, const std::string& suffix = "",
              const std::string& model_hash = "h1", bool fail_first = false) {
  auto store = open_sqlite_store(path);
  RunInfo r;
  r.name = "r";
  r.model = "m";
  r.model_hash = model_hash;
  r.backend = "openai";
  r.engine_version = "openai-compatible chat";
  r.host = path;
  r.config = std::move(config);
  RunInfo run = store->create_or_open_run(r);
  std::vector<ProblemRecord> ps;
  for (int i : problems) {
    ProblemRecord p;
    p.run_id = run.id;
    p.task = "math500";
    p.problem_id = fmt::format("p{}", i);
    p.prompt = fmt::format("What is {}?", i);
    p.gold = {std::to_string(i)};
    ps.push_back(p);
  }
  store->put_problems(ps);
  for (int i : problems)
    for (int k = 0; k < 2; ++k) {
      SampleRecord s;
      s.run_id = run.id;
      s.key = {"math500", fmt::format("p{}", i), k};
      bool failed = fail_first && i == problems.front() && k == 0;
      s.completion = failed ? "" : fmt::format("\\boxed{{{}}}{}", k == 0 ? i : -1, suffix);
      s.error = failed ? "connection reset" : "";
      s.finish_reason = failed ? "error" : "stop";
      s.created_at = fmt::format("2025-01-0{}T00:00:00.000Z", k + 1);
      store->add_sample(s);
      GradeRecord g;
      g.run_id = run.id;
      g.key = s.key;
      g.grader = "math";
      g.grader_version = std::to_string(1);
      g.result.verdict = failed ? Verdict::infra_error : k == 0 ? Verdict::correct : Verdict::wrong;
      g.result.score = k == 0 && !failed ? 1 : 0;
      store->add_grade(g);
    }
  store->flush();
}

std::map<std::string, std::string> texts(SampleStore& store, std::int64_t run) {
  std::map<std::string, std::string> out;
  for (const auto& s : store.samples(run)) out[fmt::format("{}#{}", s.key.problem_id, s.key.sample_index)] = s.completion;
  return out;
}

}  // namespace

TEST(Merge, ShardsBecomeOneRun) {
  test::TempDir dir;
  write_db(dir.file("s1.db"), {0, 2}, shard_config(1, 2, 2));
  write_db(dir.file("s2.db"), {1, 3}, shard_config(2, 2, 2));
  MergeStats stats = merge_databases({dir.file("all.db"), {dir.file("s1.db"), dir.file("s2.db")}, {}});
  ASSERT_EQ(stats.runs.size(), 1u);
  EXPECT_TRUE(stats.runs[0].created);
  EXPECT_EQ(stats.runs[0].samples_added, 8);
  EXPECT_EQ(stats.runs[0].grades_added, 8);
  EXPECT_EQ(stats.runs[0].problems_added, 4);
  EXPECT_EQ(stats.runs[0].conflicts, 0);
  EXPECT_TRUE(stats.conflicts.empty());
  auto out = open_sqlite_store(dir.file("all.db"));
  auto run = out->find_run("r");
  ASSERT_TRUE(run.has_value());
  EXPECT_FALSE(run->config.contains("shard")) << "every shard present: " << run->config.dump();
  EXPECT_EQ(run->config["tasks"][0]["problems"], 4);
  EXPECT_EQ(run->config["merged_from"].size(), 2u);
  EXPECT_EQ(run->config["merged_from"][1]["shard"]["indices"], (json{2}));
  EXPECT_EQ(out->samples(run->id).size(), 8u);
  EXPECT_EQ(out->grades(run->id).size(), 8u);
  EXPECT_EQ(out->samples(run->id)[1].created_at, "2025-01-02T00:00:00.000Z") << "samples keep their time";
  EXPECT_TRUE(out->check().ok());
}

TEST(Merge, AnInputSeenTwiceIsMergedOnceAndAConflictIsNotOverwritten) {
  test::TempDir dir;
  write_db(dir.file("s1.db"), {0, 2}, shard_config(1, 2, 2));
  std::filesystem::copy_file(dir.file("s1.db"), dir.file("s1-copy.db"));
  write_db(dir.file("s1-rerun.db"), {0, 2}, shard_config(1, 2, 2), " (regenerated)");
  MergeStats once = merge_databases({dir.file("out.db"), {dir.file("s1.db"), dir.file("s1-copy.db")}, {}});
  EXPECT_EQ(once.runs[0].samples_added, 4);
  EXPECT_EQ(once.runs[0].duplicates, 4);
  EXPECT_TRUE(once.conflicts.empty());
  std::map<std::string, std::string> before;
  {
    auto out = open_sqlite_store(dir.file("out.db"));
    before = texts(*out, out->find_run("r")->id);
    EXPECT_EQ(out->check().rows.at("samples"), 4);
    EXPECT_EQ(out->check().rows.at("grades"), 4);
  }
  // The same shard generated again (other text): every sample is a conflict, reported, and nothing changes.
  MergeStats clash = merge_databases({dir.file("out.db"), {dir.file("s1-rerun.db")}, {}});
  EXPECT_FALSE(clash.runs[0].created);
  EXPECT_EQ(clash.runs[0].conflicts, 4);
  ASSERT_EQ(clash.conflicts.size(), 4u);
  EXPECT_EQ(clash.conflicts[0].input, dir.file("s1-rerun.db"));
  EXPECT_NE(clash.conflicts[0].what.find("different completion text"), std::string::npos) << clash.conflicts[0].what;
  auto out = open_sqlite_store(dir.file("out.db"));
  EXPECT_EQ(texts(*out, out->find_run("r")->id), before);
}

TEST(Merge, AGeneratedSampleReplacesAFailedOne) {
  test::TempDir dir;
  write_db(dir.file("failed.db"), {0}, shard_config(1, 0, 1), "", "h1", /*fail_first=*/true);
  write_db(dir.file("retried.db"), {0}, shard_config(1, 0, 1));
  MergeStats a = merge_databases({dir.file("out.db"), {dir.file("failed.db"), dir.file("retried.db")}, {}});
  EXPECT_EQ(a.runs[0].failed_replaced, 1);
  EXPECT_EQ(a.runs[0].duplicates, 1);
  EXPECT_TRUE(a.conflicts.empty());
  // The other way round, the generated sample stays.
  MergeStats b = merge_databases({dir.file("out2.db"), {dir.file("retried.db"), dir.file("failed.db")}, {}});
  EXPECT_EQ(b.runs[0].failed_ignored, 1);
  for (const char* db : {"out.db", "out2.db"}) {
    auto out = open_sqlite_store(dir.file(db));
    auto run = out->find_run("r")->id;
    for (const auto& s : out->samples(run)) EXPECT_TRUE(s.error.empty()) << db;
    for (const auto& g : out->grades(run)) EXPECT_NE(g.result.verdict, Verdict::infra_error) << db;
    EXPECT_EQ(out->grades(run).size(), 2u);
  }
}

TEST(Merge, OtherEvaluationsAreRefusedBeforeAnythingIsWritten) {
  test::TempDir dir;
  write_db(dir.file("s1.db"), {0}, shard_config(1, 2, 1));
  write_db(dir.file("hot.db"), {1}, shard_config(2, 2, 1, /*temperature=*/1.0));
  write_db(dir.file("other-model.db"), {1}, shard_config(2, 2, 1), "", "h2");
  write_db(dir.file("three.db"), {1}, shard_config(2, 3, 1));
  write_db(dir.file("s2.db"), {1}, shard_config(2, 2, 1));
  auto refused = [&](const std::string& input, const std::string& fragment) {
    try {
      merge_databases({dir.file("out.db"), {dir.file("s1.db"), dir.file(input)}, {}});
      ADD_FAILURE() << input << " was merged";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("nothing was merged"), std::string::npos) << e.what();
    }
    EXPECT_FALSE(std::filesystem::exists(dir.file("out.db"))) << "refused merges write nothing";
  };
  refused("hot.db", "sampling");
  refused("other-model.db", "model hash");
  refused("three.db", "shard count");
  // The positive twin: the matching shard merges.
  EXPECT_NO_THROW(merge_databases({dir.file("out.db"), {dir.file("s1.db"), dir.file("s2.db")}, {}}));
  // OUT as an input, a missing input and an unknown run name are refused too.
  EXPECT_THROW(merge_databases({dir.file("s1.db"), {dir.file("s1.db")}, {}}), Error);
  EXPECT_THROW(merge_databases({dir.file("x.db"), {dir.file("missing.db")}, {}}), Error);
  EXPECT_THROW(merge_databases({dir.file("x.db"), {dir.file("s1.db")}, {"nope"}}), Error);
}

TEST(Merge, APartialMergeSaysWhichShardsArePresent) {
  test::TempDir dir;
  write_db(dir.file("s1.db"), {0}, shard_config(1, 3, 1));
  write_db(dir.file("s3.db"), {2}, shard_config(3, 3, 1));
  MergeStats stats = merge_databases({dir.file("out.db"), {dir.file("s1.db"), dir.file("s3.db")}, {}});
  EXPECT_EQ(stats.runs[0].config["shard"], (json{{"count", 3}, {"indices", {1, 3}}}));
  write_db(dir.file("s2.db"), {1}, shard_config(2, 3, 1));
  stats = merge_databases({dir.file("out.db"), {dir.file("s2.db")}, {}});
  EXPECT_FALSE(stats.runs[0].config.contains("shard"));
  EXPECT_EQ(stats.runs[0].config["tasks"][0]["problems"], 3);
  EXPECT_EQ(stats.runs[0].config["merged_from"].size(), 3u);
}
