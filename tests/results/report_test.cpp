// Reports: run summaries, leaderboard exports in every format (JSON parses, CSV columns line up, Markdown table rows,
// HTML holds an SVG chart), the runs table, run resolution and paired comparisons, all on a small store whose
// expected numbers are computed in the test from the generated outcomes.
#include <gtest/gtest.h>

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
  EXPECT_EQ(html.find("<script"), std::string::npos);
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
