// The HTML report checked as text, without a browser (the browser test, report_browser_test.cpp, runs it): one
// self-contained page (nothing fetched), the leaderboard with a row per run, pass@k charts with CI bands only where
// k > 1, breakdowns, comparisons, escaped names, and the embedded per-problem data parsed back and checked against
// the store (one verdict character per sample, answers only for voting tasks, completions within their budget,
// nothing that closes the <script> element early). With node installed, the page script is syntax-checked.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include <nlohmann/json.hpp>

#include "base/error.hpp"
#include "results/report.hpp"
#include "results/report_html.hpp"
#include "tests/results/report_fixtures.hpp"
#include "tests/test_util.hpp"

using namespace reval;
using reval::test::TempDir;

namespace {

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + what.size())) ++n;
  return n;
}

std::string between(const std::string& s, const std::string& open, const std::string& close) {
  size_t a = s.find(open);
  if (a == std::string::npos) return "";
  a += open.size();
  size_t b = s.find(close, a);
  return b == std::string::npos ? "" : s.substr(a, b - a);
}

size_t chars(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

struct Page {
  TempDir dir;
  std::unique_ptr<SampleStore> store = open_sqlite_store(dir.file("h.db"));
  test::ReportFixtureInfo info = test::fill_report_store(*store);

  Leaderboard board() {
    ReportOptions ro;
    ro.by = {kAutoBreakdown};
    ro.digests = true;
    return build_leaderboard(*store, ro);
  }
  std::string render(HtmlReportOptions o = {}) {
    o.db_path = dir.file("h.db");
    return render_html_report(board(), store.get(), o);
  }
};

}  // namespace

TEST(HtmlReport, SelfContainedWithLeaderboardChartsBreakdownsAndComparisons) {
  Page p;
  std::string html = p.render();
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_TRUE(html.ends_with("</html>\n"));
  // Nothing is fetched: no external scripts, styles, images or fonts.
  for (const char* bad : {"src=", "<link", "@import", "url(", "https://"}) EXPECT_EQ(count(html, bad), 0u) << bad;
  EXPECT_EQ(count(html, "http://"), count(html, "http://www.w3.org/2000/svg")) << "only the SVG namespace";

  std::string board = between(html, "<table id=\"leaderboard-table\"", "</table>");
  ASSERT_FALSE(board.empty());
  EXPECT_EQ(count(between(board, "<tbody>", "</tbody>"), "<tr>"), p.info.runs.size());
  for (const char* task : {"math500", "mmlu", "livecodebench"}) EXPECT_NE(board.find(task), std::string::npos);

  // Charts for the tasks with k > 1, each with one CI band per run; none for mmlu (k = 1).
  EXPECT_EQ(count(html, "<svg class=\"chart\""), 2u);
  EXPECT_EQ(count(html, "<polygon class=\"band\""), 2 * p.info.runs.size());
  std::string mmlu = between(html, "<section class=\"task\" id=\"task-mmlu\">", "</section>");
  EXPECT_NE(mmlu.find("no pass@k curve"), std::string::npos);
  EXPECT_EQ(mmlu.find("<svg"), std::string::npos);
  // cons@k for math, not for code.
  std::string lcb = between(html, "<section class=\"task\" id=\"task-livecodebench\">", "</section>");
  EXPECT_NE(lcb.find("not defined for code"), std::string::npos);
  std::string math = between(html, "<section class=\"task\" id=\"task-math500\">", "</section>");
  EXPECT_NE(math.find("(@4"), std::string::npos);
  // Breakdowns ("auto"): math500 by subject and level (2 before 10), mmlu by category and subject, lcb by difficulty
  // only (one platform does not split it).
  EXPECT_NE(math.find("data-key=\"subject\""), std::string::npos);
  std::string level = between(math, "data-key=\"level\"", "</table>");
  ASSERT_FALSE(level.empty());
  EXPECT_LT(level.find("<tr><td>2</td>"), level.find("<tr><td>10</td>"));
  EXPECT_NE(mmlu.find("data-key=\"category\""), std::string::npos);
  EXPECT_NE(lcb.find("data-key=\"difficulty\""), std::string::npos);
  EXPECT_EQ(lcb.find("data-key=\"platform\""), std::string::npos);
  // Comparisons with the first run: every other run on every task.
  std::string cmp = between(html, "<table class=\"sortable\" id=\"compare-table\">", "</table>");
  EXPECT_EQ(count(between(cmp, "<tbody>", "</tbody>"), "<tr>"), (p.info.runs.size() - 1) * 3);
  // Names are escaped everywhere, the page marks itself ready from its script.
  EXPECT_NE(html.find("model&lt;A&gt;&amp;co"), std::string::npos);
  EXPECT_EQ(html.find("model<A>"), std::string::npos);
  EXPECT_NE(html.find("data-reval-ready=\"0\""), std::string::npos);
  EXPECT_NE(html.find("setAttribute('data-reval-ready', '1')"), std::string::npos);
  // Two script elements (data, code), and nothing in the data closes one early.
  EXPECT_EQ(count(html, "<script"), 2u);
  EXPECT_EQ(count(html, "</script>"), 2u);
}

TEST(HtmlReport, EmbeddedProblemDataMatchesTheStore) {
  Page p;
  HtmlReportOptions o;
  o.completions = 2;
  o.completion_chars = 120;
  o.min_completion_chars = 50;
  std::string html = p.render(o);
  auto data = nlohmann::json::parse(between(html, "<script type=\"application/json\" id=\"reval-data\">", "</script>"));
  ASSERT_EQ(data["runs"].size(), p.info.runs.size());
  EXPECT_EQ(data["runs"][0]["name"], "model<A>&co");
  ASSERT_EQ(data["tasks"].size(), 3u);
  for (const auto& t : data["tasks"]) {
    std::string name = t["name"];
    size_t problems = name == "math500" ? 6 : name == "mmlu" ? 5 : 4;
    size_t k = name == "math500" ? 4 : name == "mmlu" ? 1 : 2;
    ASSERT_EQ(t["problems"].size(), problems) << name;
    EXPECT_EQ(t["voting"], name != "livecodebench");
    EXPECT_EQ(t["prompt"].size(), problems);
    EXPECT_NE(t["prompt"][0].get<std::string>().find("<b>bold</b>"), std::string::npos);
    ASSERT_EQ(t["runs"].size(), p.info.runs.size());
    for (const auto& r : t["runs"]) {
      for (size_t i = 0; i < problems; ++i) {
        std::string codes = r["c"][i];
        EXPECT_EQ(codes.size(), k) << name;
        EXPECT_EQ(r["k"][i].size(), k);
        for (char c : codes) EXPECT_NE(std::string("CWcw").find(c), std::string::npos) << codes;
        if (name == "math500") {
          EXPECT_TRUE(codes[3] == 'c' || codes[3] == 'w') << "sample 3 is truncated";
        }
        EXPECT_EQ(r.contains("a"), name != "livecodebench") << "answers are shown only where votes are defined";
        ASSERT_TRUE(r.contains("s"));
        const auto& snippets = r["s"][i];
        EXPECT_GE(snippets.size(), 1u);
        EXPECT_LE(snippets.size(), std::min<size_t>(2, k));
        for (const auto& s : snippets) {
          size_t kept = chars(s[1].get<std::string>()) + chars(s[2].get<std::string>());
          EXPECT_LE(kept, 120u);
          if (s[3].get<size_t>() > 120) {
            EXPECT_FALSE(s[2].get<std::string>().empty()) << "cut: head and tail";
          }
        }
      }
    }
    if (name == "math500") {
      // Samples of different verdicts are chosen first; the tail keeps the final answer.
      const auto& r0 = t["runs"][0];
      std::string tail = r0["s"][0][0][2];
      EXPECT_NE(tail.find("\\boxed{"), std::string::npos);
      EXPECT_EQ(r0["a"][0].size() >= 1, true);
    }
  }
  EXPECT_NE(data["note"].get<std::string>().find("120 characters"), std::string::npos);
  // The completion that tries to close the <script> element is in the data, escaped.
  EXPECT_NE(html.find("\\u003c/script\\u003e\\u003cscript\\u003edocument.title"), std::string::npos);
}

TEST(HtmlReport, TextBudgetDropsCompletionsAndSaysSo) {
  Page p;
  HtmlReportOptions o;
  o.text_budget = 1000;  // far below min_completion_chars per completion
  std::string html = p.render(o);
  auto data = nlohmann::json::parse(between(html, "<script type=\"application/json\" id=\"reval-data\">", "</script>"));
  for (const auto& t : data["tasks"])
    for (const auto& r : t["runs"]) EXPECT_FALSE(r.contains("s"));
  EXPECT_NE(data["note"].get<std::string>().find("not embedded"), std::string::npos);
  // Without a store (render_leaderboard), the page still renders, without prompts or completions.
  std::string plain = render_leaderboard(p.board(), ReportFormat::html);
  auto d2 = nlohmann::json::parse(between(plain, "<script type=\"application/json\" id=\"reval-data\">", "</script>"));
  EXPECT_FALSE(d2["tasks"][0].contains("prompt"));
  EXPECT_EQ(d2["tasks"][0]["runs"].size(), p.info.runs.size());
  // A baseline that is not in the report is an error.
  o.baseline = "nope";
  EXPECT_THROW(p.render(o), Error);
  o.baseline = "model-b";
  std::string html_b = p.render(o);
  EXPECT_NE(html_b.find("<h2>Comparisons with model-b</h2>"), std::string::npos);
}

TEST(HtmlReport, PageScriptIsValidJavaScript) {
  if (std::system("node --version > /dev/null 2>&1") != 0) GTEST_SKIP() << "node is not installed: script not checked";
  Page p;
  std::string html = p.render();
  size_t a = html.rfind("<script>");
  size_t b = html.rfind("</script>");
  ASSERT_LT(a, b);
  std::string script = html.substr(a + 8, b - a - 8);
  std::string path = p.dir.file("page.js");
  std::ofstream(path) << script;
  EXPECT_EQ(std::system(("node --check " + path + " 2>&1").c_str()), 0);
  std::ofstream(path) << script << "\n}}}";  // negative control: a syntax error is caught
  EXPECT_NE(std::system(("node --check " + path + " > /dev/null 2>&1").c_str()), 0);
}
