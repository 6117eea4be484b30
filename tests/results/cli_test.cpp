// `reval runs`, `reval report`, `reval compare` and `reval rating` end to end: a store written through the library,
// then the commands' output (stdout or --output files) checked for content and exit status.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "base/jsonl.hpp"
#include "results/store.hpp"
#include "tests/results/codeforces_fixtures.hpp"
#include "tests/test_util.hpp"

using namespace reval;

namespace {

struct Result {
  int status = -1;
  std::string output;  // stdout and stderr
};

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

Result run(const std::vector<std::string>& args) {
  std::string cmd = quote(test::reval_binary());
  for (const auto& a : args) cmd += " " + quote(a);
  cmd += " 2>&1";
  Result r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

// Two runs on one task; run "good" is right on 3 of 4 samples of every problem, "weak" on 1 of 4.
void fill(const std::string& db) {
  auto store = open_sqlite_store(db);
  for (auto [name, right] : {std::pair<std::string, int>{"good", 3}, {"weak", 1}}) {
    RunInfo r;
    r.name = name;
    r.model = "m/" + name;
    r.backend = "replay";
    auto run = store->create_or_open_run(r);
    for (int i = 0; i < 20; ++i)
      for (int j = 0; j < 4; ++j) {
        SampleRecord s;
        s.run_id = run.id;
        s.key = {"aime24", "p" + std::to_string(i), j};
        s.completion = "x";
        store->add_sample(s);
        GradeRecord g;
        g.run_id = run.id;
        g.key = s.key;
        g.grader = "math";
        g.result.verdict = j < right ? Verdict::correct : Verdict::wrong;
        g.result.extracted = j < right ? "1" : std::to_string(j + 10);
        store->add_grade(g);
      }
  }
}

}  // namespace

TEST(ResultsCli, RunsReportCompare) {
  test::TempDir dir;
  std::string db = dir.file("r.db");
  fill(db);

  auto runs = run({"runs", "--db", db});
  ASSERT_EQ(runs.status, 0) << runs.output;
  EXPECT_NE(runs.output.find("good"), std::string::npos);
  EXPECT_NE(runs.output.find("m/weak"), std::string::npos);
  EXPECT_NE(runs.output.find("80"), std::string::npos) << "samples per run";

  auto json = run({"report", "--db", db, "--format", "json", "--runs", "weak,good"});
  ASSERT_EQ(json.status, 0) << json.output;
  auto j = nlohmann::json::parse(json.output);
  ASSERT_EQ(j["results"].size(), 2u);
  EXPECT_EQ(j["results"][0]["run"], "weak");
  EXPECT_NEAR(j["results"][0]["pass@1"].get<double>(), 0.25, 1e-12);
  EXPECT_NEAR(j["results"][1]["pass@1"].get<double>(), 0.75, 1e-12);
  EXPECT_NEAR(j["results"][1]["cons"]["mean"].get<double>(), 1.0, 1e-12);

  std::string html = dir.file("board.html");
  auto h = run({"report", "--db", db, "--format", "html", "--output", html});
  ASSERT_EQ(h.status, 0) << h.output;
  std::string page = read_file(html);
  EXPECT_NE(page.find("<svg"), std::string::npos);
  EXPECT_NE(page.find("good"), std::string::npos);

  auto cmp = run({"compare", "--db", db, "good", "2"});
  ASSERT_EQ(cmp.status, 0) << cmp.output;
  EXPECT_NE(cmp.output.find("+50.0"), std::string::npos) << cmp.output;
  EXPECT_NE(cmp.output.find("aime24"), std::string::npos);

  auto missing = run({"compare", "--db", db, "good", "nope"});
  EXPECT_EQ(missing.status, 1);
  EXPECT_NE(missing.output.find("no run named 'nope'"), std::string::npos) << missing.output;
  auto nodb = run({"report", "--db", dir.file("absent.db")});
  EXPECT_EQ(nodb.status, 1);
  EXPECT_NE(nodb.output.find("no such results database"), std::string::npos) << nodb.output;
  auto badfmt = run({"report", "--db", db, "--format", "xlsx"});
  EXPECT_NE(badfmt.status, 0);
}

// `reval samples`, `reval export` (JSONL and CSV files), `report --by`, `compare --format` through the binary.
TEST(ResultsCli, SamplesExportBreakdownsAndCompareFormats) {
  test::TempDir dir;
  std::string db = dir.file("r.db");
  fill(db);

  auto wrong = run({"samples", "--db", db, "--run", "good", "--problem", "p3", "--verdict", "wrong"});
  ASSERT_EQ(wrong.status, 0) << wrong.output;
  EXPECT_NE(wrong.output.find("==== aime24 / p3 ===="), std::string::npos) << wrong.output;
  EXPECT_NE(wrong.output.find("---- sample 3 | wrong | extracted \"13\""), std::string::npos) << wrong.output;
  EXPECT_EQ(wrong.output.find("---- sample 0"), std::string::npos) << "only the wrong sample";

  auto jl = run({"samples", "--db", db, "--run", "weak", "--task", "aime24", "--format", "jsonl", "--verdict",
                 "correct"});
  ASSERT_EQ(jl.status, 0) << jl.output;
  size_t rows = 0;
  for (size_t a = 0, b; (b = jl.output.find('\n', a)) != std::string::npos; a = b + 1) {
    auto j = nlohmann::json::parse(jl.output.substr(a, b - a));
    EXPECT_EQ(j["verdict"], "correct");
    EXPECT_EQ(j["run"], "weak");
    ++rows;
  }
  EXPECT_EQ(rows, 20u);  // one correct sample of 4 per problem

  std::string jsonl = dir.file("all.jsonl"), csv = dir.file("all.csv");
  auto ej = run({"export", "--db", db, "--run", "good,weak", "--output", jsonl});
  ASSERT_EQ(ej.status, 0) << ej.output;
  EXPECT_NE(ej.output.find("wrote 160 samples"), std::string::npos) << ej.output;
  size_t n = 0;
  for_each_jsonl_file(jsonl, [&](JsonlLine& l) {
    ASSERT_TRUE(l.value.has_value()) << l.error;
    ++n;
  });
  EXPECT_EQ(n, 160u);
  auto ec = run({"export", "--db", db, "--run", "good", "--format", "csv", "-o", csv, "--truncated"});
  ASSERT_EQ(ec.status, 0) << ec.output;
  std::string text = read_file(csv);
  EXPECT_EQ(text.rfind("run,run_id,model,task,problem_id,sample_index,verdict,", 0), 0u);
  EXPECT_NE(ec.output.find("wrote 0 samples"), std::string::npos) << "no truncated samples in this store";
  auto bad = run({"export", "--db", db, "--run", "good", "--verdict", "passed"});
  EXPECT_EQ(bad.status, 1);
  EXPECT_NE(bad.output.find("unknown verdict 'passed'"), std::string::npos) << bad.output;
  auto norun = run({"samples", "--db", db});
  EXPECT_NE(norun.status, 0) << "--run is required";

  auto cmp = run({"compare", "--db", db, "good", "weak", "--format", "json"});
  ASSERT_EQ(cmp.status, 0) << cmp.output;
  auto cj = nlohmann::json::parse(cmp.output);
  EXPECT_NEAR(cj["tasks"][0]["diff"].get<double>(), 0.5, 1e-12);
  auto cmd = run({"compare", "--db", db, "good", "weak", "--format", "md"});
  EXPECT_NE(cmd.output.find("| aime24 | 20 | 75.0 | 25.0 | +50.0 |"), std::string::npos) << cmd.output;

  auto by = run({"report", "--db", db, "--by", "subject"});
  ASSERT_EQ(by.status, 0) << by.output;
  EXPECT_NE(by.output.find("No task's problems carry the breakdown fields"), std::string::npos) << by.output;
}

// `reval rating` on a run of the codeforces task with two synthetic contests cached (one in the points style, one
// ICPC), then the stored rating in `reval report` and `reval compare`.
TEST(ResultsCli, RatingCommand) {
  test::TempDir dir;
  std::string db = dir.file("cf.db"), data = dir.file("data");
  test::write_contest(data, test::big_contest(9201, "CF", 260, 2));
  test::write_contest(data, test::big_contest(9202, "ICPC", 240, 2));
  std::string histogram = test::shared_path("data/codeforces/ratings/user_rating_histogram.json");
  {
    auto store = open_sqlite_store(db);
    auto bits = [](std::initializer_list<int> l) {
      std::vector<bool> v;
      for (int b : l) v.push_back(b != 0);
      return v;
    };
    test::make_codeforces_run(*store, "strong", data,
                              {{"9201A", 9201, 800, bits({1})}, {"9201B", 9201, 1500, bits({0, 1})},
                               {"9202A", 9202, 900, bits({1})}, {"9202B", 9202, 1700, bits({0, 0, 1})}});
    test::make_codeforces_run(*store, "weak", data,
                              {{"9201A", 9201, 800, bits({0, 1})}, {"9201B", 9201, 1500, bits({0, 0})},
                               {"9202A", 9202, 900, bits({0, 0, 0, 1})}, {"9202B", 9202, 1700, bits({0})}});
  }
  // Default method: standings (both contests are cached).
  auto st = run({"rating", "--db", db, "--run", "strong", "--distribution", histogram});
  ASSERT_EQ(st.status, 0) << st.output;
  EXPECT_NE(st.output.find("method: contest standings (CodeElo's method), first 8 attempts"), std::string::npos)
      << st.output;
  EXPECT_NE(st.output.find("Synthetic Round 9201 (Div. 2)"), std::string::npos) << st.output;
  EXPECT_NE(st.output.find("Synthetic Round 9202 (Educational)"), std::string::npos);
  EXPECT_NE(st.output.find("contests used: 2, skipped: 0"), std::string::npos) << st.output;
  EXPECT_NE(st.output.find("% of all 717,421 rated Codeforces accounts"), std::string::npos) << st.output;
  // JSON of the problems method with one attempt: 9201A and 9202A solved at the first try, the B's not.
  auto pj = run({"rating", "--db", db, "--run", "strong", "--method", "problems", "--attempts", "1", "--json",
                 "--distribution", histogram});
  ASSERT_EQ(pj.status, 0) << pj.output;
  auto j = nlohmann::json::parse(pj.output);
  EXPECT_EQ(j["method"], "problems");
  EXPECT_EQ(j["params"]["attempts"], 1);
  EXPECT_EQ(j["details"]["mle"]["solved"], 2);
  EXPECT_EQ(j["used"], 4);
  auto weak = run({"rating", "--db", db, "--run", "weak", "--distribution", histogram});
  ASSERT_EQ(weak.status, 0) << weak.output;
  // Both ratings were stored: the report shows them, compare pairs them over the two contests.
  auto md = run({"report", "--db", db});
  ASSERT_EQ(md.status, 0) << md.output;
  EXPECT_NE(md.output.find("## Codeforces ratings"), std::string::npos) << md.output;
  EXPECT_NE(md.output.find("2 contests used, 0 skipped"), std::string::npos) << md.output;
  auto cmp = run({"compare", "--db", db, "strong", "weak"});
  ASSERT_EQ(cmp.status, 0) << cmp.output;
  EXPECT_NE(cmp.output.find("paired over 2 common contests"), std::string::npos) << cmp.output;
  // --no-save leaves the database alone; a rating of nothing exits 1.
  auto ns = run({"rating", "--db", db, "--run", "weak", "--method", "problems", "--attempts", "3", "--no-save"});
  ASSERT_EQ(ns.status, 0) << ns.output;
  auto js = run({"report", "--db", db, "--format", "json"});
  auto rj = nlohmann::json::parse(js.output);
  for (const auto& r : rj["ratings"]) EXPECT_NE(r["params"]["attempts"], 3);
  auto none = run({"rating", "--db", db, "--run", "weak", "--method", "standings", "--contests", "1"});
  EXPECT_EQ(none.status, 1);
  EXPECT_NE(none.output.find("fetch them with `reval data fetch codeforces --contest 1`"), std::string::npos)
      << none.output;
  auto bad = run({"rating", "--db", db, "--run", "nobody"});
  EXPECT_EQ(bad.status, 1);
  EXPECT_NE(bad.output.find("no run named 'nobody'"), std::string::npos);
}
