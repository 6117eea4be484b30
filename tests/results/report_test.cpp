// Reports: run summaries, leaderboard exports in every format (JSON parses, CSV columns line up, Markdown table rows,
// HTML holds an SVG chart), the runs table, run resolution and paired comparisons, all on a small store whose
// expected numbers are computed in the test from the generated outcomes.
#include <gtest/gtest.h>

#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/error.hpp"
#include "results/report.hpp"
#include "results/store.hpp"
#include "tests/test_util.hpp"

using namespace reval;
using reval::test::TempDir;

namespace {

// Splits one CSV line honouring double quotes.
std::vector<std::string> csv_split(const std::string& line) {
  std::vector<std::string> out(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') { out.back() += '"'; ++i; }
      else if (c == '"') quoted = false;
      else out.back() += c;
    } else if (c == '"') quoted = true;
    else if (c == ',') out.emplace_back();
    else out.back() += c;
  }
  return out;
}

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t e = s.find('\n', pos);
    if (e == std::string::npos) e = s.size();
    out.push_back(s.substr(pos, e - pos));
    pos = e + 1;
  }
  return out;
}

// "value [lo, hi]" as the Markdown details table prints pass@k.
std::string pass_at_k_text(const PassAtK& p) {
  return fmt::format("{:.1f} [{:.1f}, {:.1f}]", 100 * p.value, 100 * p.ci_lo, 100 * p.ci_hi);
}

struct Fixture {
  TempDir dir;
  std::unique_ptr<SampleStore> store = open_sqlite_store(dir.file("r.db"));
  RunInfo a, b;
  // expected pass@1 per run and task, computed from the generated outcomes
  std::map<std::pair<std::string, std::string>, double> expected;
  int infra_a = 0;

  // correct(run, problem, sample): A solves problems with i % 3 != 0 on most samples, B fewer.
  Fixture() {
    RunInfo ra;
    ra.name = "model<A>&co";  // needs escaping in HTML
    ra.model = "org/model-a";
    ra.backend = "native";
    ra.config = {{"k", 4}};
    a = store->create_or_open_run(ra);
    RunInfo rb = ra;
    rb.name = "model-b";
    rb.model = "org/model-b";
    b = store->create_or_open_run(rb);
    for (const auto* run : {&a, &b}) {
      bool is_a = run->id == a.id;
      for (const std::string task : {"aime24", "math500"}) {
        int problems = task == "aime24" ? 12 : 20;
        double sum = 0;
        for (int i = 0; i < problems; ++i) {
          std::string pid = fmt::format("{}-{}", task, i);
          int n = 0, c = 0;
          for (int j = 0; j < 4; ++j) {
            SampleRecord s;
            s.run_id = run->id;
            s.key = {task, pid, j};
            s.completion = "...";
            s.completion_tokens = 100 * (j + 1);
            s.finish_reason = j == 3 ? "length" : "stop";
            s.latency_s = 2.0;
            bool infra = is_a && task == "math500" && i == 5 && j == 2;
            if (infra) {
              s.error = "connection reset";
              s.finish_reason = "error";
              ++infra_a;
            }
            store->add_sample(s);
            if (infra) continue;
            bool correct = is_a ? (i % 3 != 0 && j != 1) : (i % 2 == 0 && j == 0);
            GradeRecord g;
            g.run_id = run->id;
            g.key = s.key;
            g.grader = "math";
            g.grader_version.assign(1, '1');
            g.result.verdict = correct ? Verdict::correct : Verdict::wrong;
            g.result.score = correct ? 1 : 0;
            g.result.extracted = correct ? "42" : std::to_string(j);
            store->add_grade(g);
            ++n;
            c += correct;
          }
          sum += static_cast<double>(c) / n;
        }
        expected[{run->name, task}] = sum / problems;
      }
    }
    store->flush();
  }
};

}  // namespace

TEST(Report, SummarizeRunMatchesOutcomes) {
  Fixture f;
  auto s = summarize_run(*f.store, f.a.id);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].task, "aime24");
  EXPECT_EQ(s[1].task, "math500");
  EXPECT_NEAR(s[0].metrics.pass1.mean, (f.expected[{f.a.name, "aime24"}]), 1e-12);
  EXPECT_NEAR(s[1].metrics.pass1.mean, (f.expected[{f.a.name, "math500"}]), 1e-12);
  EXPECT_EQ(s[1].metrics.infra_errors, f.infra_a);
  EXPECT_EQ(s[0].metrics.problems, 12);
  EXPECT_EQ(s[0].truncated, 12);  // sample 3 of every problem hit the length limit
  EXPECT_NEAR(s[0].mean_completion_tokens, 250.0, 1e-9);
  ASSERT_TRUE(s[0].metrics.cons.has_value());
  EXPECT_EQ(s[0].metrics.cons->k, 4);
  std::string text = format_run_summary(s);
  EXPECT_NE(text.find("aime24"), std::string::npos);
  EXPECT_NE(text.find("math500"), std::string::npos);
  EXPECT_THROW(summarize_run(*f.store, 999), Error);
}

TEST(Report, JsonExportParsesWithAllRowsAndValues) {
  Fixture f;
  auto board = build_leaderboard(*f.store, {});
  ASSERT_EQ(board.rows.size(), 4u);
  auto j = nlohmann::json::parse(render_leaderboard(board, ReportFormat::json));
  ASSERT_EQ(j["runs"].size(), 2u);
  ASSERT_EQ(j["results"].size(), 4u);
  for (const auto& r : j["results"]) {
    std::string run = r["run"], task = r["task"];
    EXPECT_NEAR(r["pass@1"].get<double>(), (f.expected[{run, task}]), 1e-12) << run << " " << task;
    EXPECT_TRUE(r["pass_at_k"].contains("4"));
    EXPECT_LE(r["pass@1_ci_lo"].get<double>(), r["pass@1"].get<double>());
    EXPECT_GE(r["pass@1_ci_hi"].get<double>(), r["pass@1"].get<double>());
    EXPECT_GT(r["pass@1_se"].get<double>(), 0.0);
    EXPECT_FALSE(r["cons"].is_null());
  }
  EXPECT_EQ(j["runs"][0]["config"]["k"], 4);
}

TEST(Report, CsvHasConsistentColumns) {
  Fixture f;
  auto csv = render_leaderboard(build_leaderboard(*f.store, {}), ReportFormat::csv);
  auto lines = lines_of(csv);
  ASSERT_EQ(lines.size(), 5u);  // header + 4 rows
  auto header = csv_split(lines[0]);
  auto col = [&](const std::string& name) {
    auto it = std::find(header.begin(), header.end(), name);
    EXPECT_NE(it, header.end()) << name;
    return static_cast<size_t>(it - header.begin());
  };
  size_t run = col("run"), task = col("task"), pass1 = col("pass@1"), infra = col("infra_errors");
  col("pass@2");
  col("pass@4");
  col("cons");
  for (size_t i = 1; i < lines.size(); ++i) {
    auto cells = csv_split(lines[i]);
    ASSERT_EQ(cells.size(), header.size()) << lines[i];
    EXPECT_NEAR(std::stod(cells[pass1]), (f.expected[{cells[run], cells[task]}]), 1e-5);
    if (cells[run] == f.a.name && cells[task] == "math500") {
      EXPECT_EQ(std::stoi(cells[infra]), f.infra_a);
    }
  }
}

TEST(Report, MarkdownAndHtml) {
  Fixture f;
  auto board = build_leaderboard(*f.store, {});
  auto md = render_leaderboard(board, ReportFormat::md);
  int table_rows = 0;
  for (const auto& l : lines_of(md))
    if (!l.empty() && l.front() == '|' && l.back() == '|') ++table_rows;
  // overview: header + separator + 2 runs; details: header + separator + 4 rows
  EXPECT_EQ(table_rows, 4 + 6);
  EXPECT_NE(md.find("model-b"), std::string::npos);

  auto html = render_leaderboard(board, ReportFormat::html);
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_NE(html.find("<polyline"), std::string::npos);
  EXPECT_NE(html.find("</html>"), std::string::npos);
  EXPECT_NE(html.find("model&lt;A&gt;&amp;co"), std::string::npos);
  EXPECT_EQ(html.find("model<A>"), std::string::npos) << "names are escaped";
  // The page's script and data are inline: nothing is loaded from elsewhere (report_html_test checks the rest).
  EXPECT_EQ(html.find("src="), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
}

TEST(Report, SelectsRunsAndTask) {
  Fixture f;
  ReportOptions o;
  o.runs = {"model-b", std::to_string(f.a.id)};
  o.task = "aime24";
  auto board = build_leaderboard(*f.store, o);
  ASSERT_EQ(board.runs.size(), 2u);
  EXPECT_EQ(board.runs[0].name, "model-b");
  ASSERT_EQ(board.rows.size(), 2u);
  EXPECT_EQ(board.tasks, std::vector<std::string>{"aime24"});
  o.runs = {"nope"};
  try {
    build_leaderboard(*f.store, o);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model-b"), std::string::npos) << "lists the known runs";
  }
  EXPECT_EQ(report_format_from_string("markdown"), ReportFormat::md);
  EXPECT_THROW(report_format_from_string("xlsx"), Error);
}

TEST(Report, RunsTableAndComparison) {
  Fixture f;
  auto table = format_runs_table(*f.store);
  EXPECT_NE(table.find("model-b"), std::string::npos);
  EXPECT_NE(table.find("aime24,math500"), std::string::npos);
  EXPECT_NE(table.find(std::to_string((12 + 20) * 4)), std::string::npos) << table;  // samples per run: 128

  auto cmp = compare_runs(*f.store, f.a.name, "model-b");
  ASSERT_EQ(cmp.tasks.size(), 2u);
  for (const auto& t : cmp.tasks) {
    EXPECT_NEAR(t.result.diff, (f.expected[{f.a.name, t.task}] - f.expected[{"model-b", t.task}]), 1e-12);
    EXPECT_GT(t.result.diff, 0.0);
    EXPECT_LT(t.result.p_value, 0.05) << t.task;
    EXPECT_EQ(t.only_a, 0);
  }
  auto one = compare_runs(*f.store, std::to_string(f.a.id), "model-b", "math500");
  ASSERT_EQ(one.tasks.size(), 1u);
  EXPECT_EQ(one.tasks[0].result.problems, 20);
  auto text = format_comparison(cmp);
  EXPECT_NE(text.find("p-value"), std::string::npos);
  EXPECT_THROW(compare_runs(*f.store, f.a.name, "model-b", "gpqa"), Error);
}

TEST(Report, PartialResultsAreMarkedInEveryFormat) {
  Fixture f;  // run A has one infra-error sample in math500; run B has none
  // Three samples of run B's aime24 lose their grades (a crash between storing and grading).
  {
    SampleRecord s;
    s.run_id = f.b.id;
    s.key = {"aime24", "aime24-extra", 0};
    s.completion = "x";
    s.finish_reason = "stop";
    for (int j = 0; j < 3; ++j) {
      s.key.sample_index = j;
      f.store->add_sample(s);
    }
    f.store->flush();
  }
  ReportOptions ro;
  Leaderboard board = build_leaderboard(*f.store, ro);
  auto row_of = [&](const std::string& run, const std::string& task) -> const TaskSummary& {
    for (const auto& r : board.rows)
      if (r.run_name == run && r.task == task) return r;
    throw std::runtime_error("no row");
  };
  EXPECT_EQ(row_of("model-b", "aime24").metrics.ungraded, 3);
  nlohmann::json j = nlohmann::json::parse(render_leaderboard(board, ReportFormat::json));
  std::map<std::string, bool> partial;
  for (const auto& r : j["results"]) partial[r["run"].get<std::string>() + "/" + r["task"].get<std::string>()] = r["partial"];
  EXPECT_TRUE(partial["model-b/aime24"]);            // ungraded samples
  EXPECT_TRUE(partial["model<A>&co/math500"]);       // an infra error
  EXPECT_FALSE(partial["model-b/math500"]);          // complete: not marked
  EXPECT_FALSE(partial["model<A>&co/aime24"]);
  std::string md = render_leaderboard(board, ReportFormat::md);
  EXPECT_NE(md.find("| ungraded |"), std::string::npos) << md;
  EXPECT_NE(md.find("* partial:"), std::string::npos) << md;
  int marked = 0;
  for (const auto& line : lines_of(md))
    if (line.rfind("| model", 0) == 0 && line.find(" * |") != std::string::npos) ++marked;
  EXPECT_EQ(marked, 4) << md;  // the two partial results, in the overview and in the details table
  std::string csv = render_leaderboard(board, ReportFormat::csv);
  auto header = csv_split(lines_of(csv)[0]);
  auto col = std::find(header.begin(), header.end(), "partial") - header.begin();
  ASSERT_LT(col, static_cast<long>(header.size()));
  int csv_partial = 0;
  for (size_t i = 1; i < lines_of(csv).size(); ++i) csv_partial += csv_split(lines_of(csv)[i])[col] == "true";
  EXPECT_EQ(csv_partial, 2);
  std::string html = render_leaderboard(board, ReportFormat::html);
  EXPECT_NE(html.find("partial: some samples are ungraded"), std::string::npos);
  std::string summary = format_run_summary(*f.store, f.b.id);
  EXPECT_NE(summary.find("* partial"), std::string::npos) << summary;
}

namespace {

// A store for token statistics, breakdowns and voting: one run, math500 graded by "math" (with metadata), and
// livecodebench graded by "code".
struct SmallStore {
  TempDir dir;
  std::unique_ptr<SampleStore> store = open_sqlite_store(dir.file("s.db"));
  RunInfo run, other;
  std::map<std::string, double> level_pass1;  // expected pass@1 per math500 level

  void add(const RunInfo& r, const std::string& task, const std::string& pid, int j, bool ok, std::int64_t tokens,
           const std::string& finish, const std::string& grader, const std::string& error = "") {
    SampleRecord s;
    s.run_id = r.id;
    s.key = {task, pid, j};
    s.completion = "c";
    s.completion_tokens = tokens;
    s.finish_reason = finish;
    s.error = error;
    store->add_sample(s);
    if (!error.empty()) return;
    GradeRecord g;
    g.run_id = r.id;
    g.key = s.key;
    g.grader = grader;
    g.grader_version = "1";
    g.result.verdict = ok ? Verdict::correct : Verdict::wrong;
    g.result.extracted = ok ? "1" : "2";
    store->add_grade(g);
  }

  SmallStore() {
    RunInfo r;
    r.name = "m1";
    r.model = "m1";
    run = store->create_or_open_run(r);
    r.name = "m2";
    other = store->create_or_open_run(r);
    std::vector<ProblemRecord> problems;
    // 12 math problems: level 2 or 10 (natural order: 2 before 10), subject A/B, problems 0-3 with tags.
    std::map<std::string, std::vector<double>> by_level;
    for (int i = 0; i < 12; ++i) {
      std::string pid = "m" + std::to_string(i);
      ProblemRecord p;
      p.run_id = run.id;
      p.task = "math500";
      p.problem_id = pid;
      p.metadata = {{"level", i % 3 == 0 ? 10 : 2}, {"subject", i < 6 ? "A" : "B"}};
      if (i < 4) p.metadata["tags"] = {"dp", i % 2 ? "math" : "greedy"};
      problems.push_back(p);
      int correct = i % 3;  // of 2 samples: 0, 1 or 2
      for (int j = 0; j < 2; ++j) add(run, "math500", pid, j, j < correct, j == 0 ? 10 : 1000, "stop", "math");
      by_level[i % 3 == 0 ? "10" : "2"].push_back(std::min(correct, 2) / 2.0);
      add(other, "math500", pid, 0, i % 2 == 0, 5, "stop", "math");
    }
    for (auto& [level, v] : by_level) {
      double sum = 0;
      for (double x : v) sum += x;
      level_pass1[level] = sum / static_cast<double>(v.size());
    }
    // Code: 3 problems with Codeforces-style ratings, 2 samples; tokens 10, 20, 30 (+ a failed generation).
    for (int i = 0; i < 3; ++i) {
      std::string pid = "c" + std::to_string(i);
      ProblemRecord p;
      p.run_id = run.id;
      p.task = "livecodebench";
      p.problem_id = pid;
      p.metadata = {{"rating", std::vector<int>{800, 1599, 2900}[static_cast<size_t>(i)]}};
      problems.push_back(p);
      add(run, "livecodebench", pid, 0, true, 10 * (i + 1), i == 0 ? "length" : "stop", "code");
      add(run, "livecodebench", pid, 1, false, 10 * (i + 1), "stop", "code");
    }
    add(run, "livecodebench", "c0", 2, false, -1, "error", "code", "timeout");
    store->put_problems(problems);
    store->flush();
  }
};

const TaskSummary& row(const Leaderboard& b, const std::string& run, const std::string& task) {
  for (const auto& r : b.rows)
    if (r.run_name == run && r.task == task) return r;
  throw std::runtime_error("no row " + run + "/" + task);
}

}  // namespace

TEST(Report, TokenStatisticsAndTruncatedShare) {
  SmallStore f;
  auto b = build_leaderboard(*f.store, {});
  const auto& code = row(b, "m1", "livecodebench");
  // tokens 10,10,20,20,30,30 (the failed generation has no count): mean 20, median 20.
  EXPECT_DOUBLE_EQ(code.mean_completion_tokens, 20.0);
  EXPECT_DOUBLE_EQ(code.median_completion_tokens, 20.0);
  EXPECT_EQ(code.generated, 6);
  EXPECT_EQ(code.truncated, 1);
  EXPECT_DOUBLE_EQ(code.truncated_share, 1.0 / 6);
  const auto& math = row(b, "m1", "math500");
  // 12 x {10, 1000}: mean 505, median (10 + 1000) / 2.
  EXPECT_DOUBLE_EQ(math.mean_completion_tokens, 505.0);
  EXPECT_DOUBLE_EQ(math.median_completion_tokens, 505.0);
  EXPECT_DOUBLE_EQ(row(b, "m2", "math500").median_completion_tokens, 5.0);
  EXPECT_DOUBLE_EQ(math.truncated_share, 0.0);
  // Every format carries them.
  auto j = nlohmann::json::parse(render_leaderboard(b, ReportFormat::json));
  for (const auto& r : j["results"])
    if (r["run"] == "m1" && r["task"] == "livecodebench") {
      EXPECT_DOUBLE_EQ(r["median_completion_tokens"].get<double>(), 20.0);
      EXPECT_DOUBLE_EQ(r["truncated_share"].get<double>(), 1.0 / 6);
    }
  auto csv = lines_of(render_leaderboard(b, ReportFormat::csv));
  auto header = csv_split(csv[0]);
  EXPECT_NE(std::find(header.begin(), header.end(), "median_completion_tokens"), header.end());
  EXPECT_NE(std::find(header.begin(), header.end(), "truncated_share"), header.end());
  EXPECT_NE(render_leaderboard(b, ReportFormat::md).find("| median tokens | truncated % |"), std::string::npos);
  std::string summary = format_run_summary(*f.store, f.run.id);
  EXPECT_NE(summary.find("1 (16.7%)"), std::string::npos) << summary;
}

TEST(Report, ConsensusOnlyWhereVotingIsDefined) {
  SmallStore f;
  auto b = build_leaderboard(*f.store, {});
  EXPECT_TRUE(row(b, "m1", "math500").voting);
  EXPECT_TRUE(row(b, "m1", "math500").metrics.cons.has_value());
  EXPECT_FALSE(row(b, "m1", "livecodebench").voting);
  EXPECT_FALSE(row(b, "m1", "livecodebench").metrics.cons.has_value()) << "no majority vote over program text";
  auto j = nlohmann::json::parse(render_leaderboard(b, ReportFormat::json));
  for (const auto& r : j["results"]) {
    if (r["run"] == "m1") {
      EXPECT_EQ(r["cons"].is_null(), r["task"] == "livecodebench") << r["task"];
    }
  }
}

TEST(Report, PassAtKIntervalsInEveryFormat) {
  SmallStore f;
  auto b = build_leaderboard(*f.store, {});
  const auto& m = row(b, "m1", "math500").metrics;
  ASSERT_EQ(m.pass_at.size(), 2u);
  EXPECT_LE(m.pass_at[1].ci_lo, m.pass_at[1].value);
  EXPECT_GE(m.pass_at[1].ci_hi, m.pass_at[1].value);
  EXPECT_LT(m.pass_at[1].ci_lo, m.pass_at[1].ci_hi);
  auto j = nlohmann::json::parse(render_leaderboard(b, ReportFormat::json));
  const auto& r = j["results"][1];  // m1: livecodebench, math500
  ASSERT_EQ(r["task"], "math500");
  EXPECT_DOUBLE_EQ(r["pass_at_k"]["2"]["ci_lo"].get<double>(), m.pass_at[1].ci_lo);
  EXPECT_DOUBLE_EQ(r["pass_at_k"]["2"]["ci_hi"].get<double>(), m.pass_at[1].ci_hi);
  auto csv = lines_of(render_leaderboard(b, ReportFormat::csv));
  auto header = csv_split(csv[0]);
  EXPECT_NE(std::find(header.begin(), header.end(), "pass@2_ci_lo"), header.end());
  EXPECT_NE(std::find(header.begin(), header.end(), "pass@2_ci_hi"), header.end());
  EXPECT_NE(render_leaderboard(b, ReportFormat::md).find(pass_at_k_text(m.pass_at[1])), std::string::npos);
}

TEST(Report, BreakdownGroups) {
  nlohmann::json meta = {{"rating", 1599}, {"level", 5}, {"tags", {"dp", "math", "dp"}}, {"subject", "Algebra"}};
  EXPECT_EQ(breakdown_groups("rating_band", meta), std::vector<std::string>{"1200-1599"});
  EXPECT_EQ(breakdown_groups("rating_band", {{"rating", 800}}), std::vector<std::string>{"800-1199"});
  EXPECT_EQ(breakdown_groups("rating_band", {{"rating", 3500}}), std::vector<std::string>{"2800+"});
  EXPECT_EQ(breakdown_groups("level", meta), std::vector<std::string>{"5"});
  EXPECT_EQ(breakdown_groups("tags", meta), (std::vector<std::string>{"dp", "math"}));
  EXPECT_EQ(breakdown_groups("subject", meta), std::vector<std::string>{"Algebra"});
  EXPECT_TRUE(breakdown_groups("domain", meta).empty());
  EXPECT_TRUE(breakdown_groups("rating_band", {{"level", 1}}).empty());
}

TEST(Report, BreakdownsByMetadataInEveryFormat) {
  SmallStore f;
  ReportOptions ro;
  ro.runs = {"m1"};
  ro.by = {"level", "rating_band", "tags"};
  auto b = build_leaderboard(*f.store, ro);
  std::vector<std::string> seen;
  for (const auto& r : b.breakdowns) seen.push_back(r.task + ":" + r.key + ":" + r.group);
  // level: 2 before 10 (natural order); rating bands in order; tags with "(none)" for untagged problems.
  EXPECT_EQ(seen, (std::vector<std::string>{"livecodebench:rating_band:800-1199", "livecodebench:rating_band:1200-1599",
                                            "livecodebench:rating_band:2800+", "math500:level:2", "math500:level:10",
                                            "math500:tags:(none)", "math500:tags:dp", "math500:tags:greedy",
                                            "math500:tags:math"}));
  for (const auto& r : b.breakdowns) {
    if (r.key != "level") continue;
    EXPECT_NEAR(r.metrics.pass1.mean, f.level_pass1[r.group], 1e-12) << r.group;
    EXPECT_EQ(r.metrics.problems, r.group == "10" ? 4 : 8);
    EXPECT_LE(r.metrics.pass1.ci_lo, r.metrics.pass1.mean);
  }
  for (const auto& r : b.breakdowns) {
    if (r.key == "tags" && r.group == "dp") {
      EXPECT_EQ(r.metrics.problems, 4);  // every tagged problem
    }
  }

  // Markdown: one table per task and key. CSV: the breakdown rows in long form. JSON: a "breakdowns" list.
  std::string md = render_leaderboard(b, ReportFormat::md);
  EXPECT_NE(md.find("## math500 by level"), std::string::npos);
  EXPECT_NE(md.find("## livecodebench by rating_band"), std::string::npos);
  EXPECT_LT(md.find("| 2 | 8 |"), md.find("| 10 | 4 |"));
  auto csv = lines_of(render_leaderboard(b, ReportFormat::csv));
  EXPECT_EQ(csv[0].rfind("run,run_id,task,key,group,problems", 0), 0u);
  EXPECT_EQ(csv.size(), 1 + b.breakdowns.size());
  auto j = nlohmann::json::parse(render_leaderboard(b, ReportFormat::json));
  ASSERT_EQ(j["breakdowns"].size(), b.breakdowns.size());
  EXPECT_EQ(j["breakdowns"][3]["group"], "2");
  EXPECT_DOUBLE_EQ(j["breakdowns"][3]["pass@1"]["mean"].get<double>(), f.level_pass1["2"]);

  // "auto": only keys that split a task in two or more groups (subject and level for math500, rating_band for
  // livecodebench); a key no problem carries gives no table, and says so when nothing matched.
  ro.by = {kAutoBreakdown};
  auto a = build_leaderboard(*f.store, ro);
  std::set<std::string> keys;
  for (const auto& r : a.breakdowns) keys.insert(r.task + ":" + r.key);
  EXPECT_EQ(keys, (std::set<std::string>{"livecodebench:rating_band", "math500:level", "math500:subject"}));
  ro.by = {"domain"};
  auto none = build_leaderboard(*f.store, ro);
  EXPECT_TRUE(none.breakdowns.empty());
  EXPECT_NE(render_leaderboard(none, ReportFormat::md).find("No task's problems carry"), std::string::npos);
}

TEST(Report, ComparisonAsMarkdownCsvAndJson) {
  SmallStore f;
  auto cmp = compare_runs(*f.store, "m1", "m2");
  ASSERT_EQ(cmp.tasks.size(), 1u);
  EXPECT_EQ(cmp.skipped, std::vector<std::string>{"livecodebench"});
  const auto& r = cmp.tasks[0].result;
  auto j = nlohmann::json::parse(render_comparison(cmp, ReportFormat::json));
  EXPECT_EQ(j["a"]["name"], "m1");
  ASSERT_EQ(j["tasks"].size(), 1u);
  EXPECT_DOUBLE_EQ(j["tasks"][0]["diff"].get<double>(), r.diff);
  EXPECT_DOUBLE_EQ(j["tasks"][0]["p_value"].get<double>(), r.p_value);
  EXPECT_EQ(j["tasks"][0]["problems"], 12);
  EXPECT_EQ(j["skipped"], nlohmann::json::array({"livecodebench"}));
  auto csv = lines_of(render_comparison(cmp, ReportFormat::csv));
  ASSERT_EQ(csv.size(), 2u);
  auto header = csv_split(csv[0]), cells = csv_split(csv[1]);
  ASSERT_EQ(header.size(), cells.size());
  auto at = [&](const std::string& name) { return cells[std::find(header.begin(), header.end(), name) - header.begin()]; };
  EXPECT_NEAR(std::stod(at("diff")), r.diff, 1e-5);
  EXPECT_NEAR(std::stod(at("ci_lo")), r.ci_lo, 1e-5);
  EXPECT_EQ(at("task"), "math500");
  std::string md = render_comparison(cmp, ReportFormat::md);
  EXPECT_NE(md.find("| math500 | 12 |"), std::string::npos) << md;
  EXPECT_NE(md.find("not compared"), std::string::npos);
  EXPECT_THROW(render_comparison(cmp, ReportFormat::html), Error);
  // compare_summaries: the same numbers from two summaries.
  auto b = build_leaderboard(*f.store, {});
  auto tc = compare_summaries(row(b, "m1", "math500"), row(b, "m2", "math500"));
  ASSERT_TRUE(tc.has_value());
  EXPECT_DOUBLE_EQ(tc->result.diff, r.diff);
  EXPECT_DOUBLE_EQ(tc->result.p_value, r.p_value);
  EXPECT_FALSE(compare_summaries(row(b, "m1", "livecodebench"), row(b, "m2", "math500")).has_value());
}
