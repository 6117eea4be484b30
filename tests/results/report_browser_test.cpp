// The HTML report in a real browser (label `slow`): headless Chromium loads the page from a file, runs its script,
// and we read back the DOM it built (--dump-dom) and a screenshot. Checks: the script ran without an error (the page
// sets data-reval-ready="1" and data-reval-errors="0" on <body>), the leaderboard and the pass@k charts are there, the
// problem grid was drawn, and opening a problem through the URL (#problem=TASK/ID) shows every run's samples with
// the extracted answer highlighted. A page with a deliberate script error is reported as such (negative control).
// Skips, saying so, when no Chromium is installed (Debian: apt-get install chromium; or set $REVAL_CHROMIUM).
// The screenshot is kept at <build>/report_browser_test.png for a look.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "results/report.hpp"
#include "results/report_html.hpp"
#include "tests/results/report_fixtures.hpp"
#include "tests/test_util.hpp"

using namespace reval;
using reval::test::TempDir;

namespace {

std::string find_chromium() {
  if (const char* env = std::getenv("REVAL_CHROMIUM"); env && *env) return env;
  for (const char* name : {"chromium", "chromium-browser", "google-chrome"})
    if (std::system((std::string("command -v ") + name + " > /dev/null 2>&1").c_str()) == 0) return name;
  return "";
}

// Runs the browser on `url` with `extra` flags (a fresh profile each time; no network, no sandbox for root in a
// container) and returns its stdout.
std::string run_browser(const std::string& browser, const std::string& url, const std::string& extra,
                        const TempDir& dir) {
  std::string profile = dir.file("profile-" + std::to_string(std::rand()));
  std::string cmd = "timeout 120 " + browser +
                    " --headless --no-sandbox --disable-gpu --disable-background-networking"
                    " --disable-component-update --no-first-run --disable-extensions --user-data-dir=" +
                    profile + " --virtual-time-budget=10000 " + extra + " '" + url + "' 2>/dev/null";
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + what.size())) ++n;
  return n;
}

}  // namespace

TEST(HtmlReportBrowser, ScriptRunsLeaderboardChartsGridAndProblemView) {
  std::string browser = find_chromium();
  if (browser.empty()) GTEST_SKIP() << "no Chromium installed (apt-get install chromium, or set REVAL_CHROMIUM)";
  TempDir dir;
  auto store = open_sqlite_store(dir.file("b.db"));
  auto info = test::fill_report_store(*store);
  ReportOptions ro;
  ro.by = {kAutoBreakdown};
  ro.digests = true;
  HtmlReportOptions ho;
  ho.db_path = "b.db";
  std::string page = dir.file("report.html");
  std::ofstream(page) << render_html_report(build_leaderboard(*store, ro), store.get(), ho);

  std::string url = "file://" + page + "#problem=math500/test%2Falgebra%2F1.json";
  std::string dom = run_browser(browser, url, "--dump-dom", dir);
  ASSERT_FALSE(dom.empty()) << "the browser printed nothing";
  EXPECT_NE(dom.find("data-reval-ready=\"1\""), std::string::npos) << "the page script did not finish";
  EXPECT_NE(dom.find("data-reval-errors=\"0\""), std::string::npos) << "the page script reported an error";
  EXPECT_NE(dom.find("data-reval-ms=\""), std::string::npos) << "the page did not record its drawing time";
  EXPECT_NE(dom.find("id=\"leaderboard-table\""), std::string::npos);
  EXPECT_EQ(count(dom, "<svg class=\"chart\""), 2u);
  // The grid drawn by the script, switched to the task of the problem named in the URL (math500, 6 problems).
  EXPECT_EQ(count(dom, "<tr data-p="), static_cast<size_t>(info.math_problems));
  // The problem opened from the URL: a block per run, the boxed answer marked, the prompt text.
  EXPECT_NE(dom.find("math500 / test/algebra/1.json"), std::string::npos);
  EXPECT_EQ(count(dom, "class=\"run-block\""), info.runs.size());
  EXPECT_NE(dom.find("<mark>\\boxed{"), std::string::npos);
  EXPECT_NE(dom.find("Question test/algebra/1.json"), std::string::npos);
  // The page title was not changed by the completion that tried to inject a script.
  EXPECT_NE(dom.find("<title>reval report</title>"), std::string::npos);

  std::string shot = test::binary_dir() + "/report_browser_test.png";
  std::remove(shot.c_str());
  run_browser(browser, url, "--window-size=1400,2400 --screenshot=" + shot, dir);
  std::ifstream png(shot, std::ios::binary);
  ASSERT_TRUE(png.good()) << "no screenshot written";
  std::string bytes((std::istreambuf_iterator<char>(png)), std::istreambuf_iterator<char>());
  EXPECT_EQ(bytes.substr(1, 3), "PNG");
  EXPECT_GT(bytes.size(), 20000u) << "a blank page compresses to almost nothing";
}

TEST(HtmlReportBrowser, ScriptErrorsAreReported) {
  std::string browser = find_chromium();
  if (browser.empty()) GTEST_SKIP() << "no Chromium installed (apt-get install chromium, or set REVAL_CHROMIUM)";
  TempDir dir;
  auto store = open_sqlite_store(dir.file("b.db"));
  test::fill_report_store(*store);
  ReportOptions ro;
  ro.digests = true;
  std::string html = render_html_report(build_leaderboard(*store, ro), store.get());
  // Break the data the script reads: JSON.parse throws, so the page must not claim to be ready.
  size_t at = html.find("id=\"reval-data\">");
  ASSERT_NE(at, std::string::npos);
  html.insert(at + 16, "{broken");
  std::string page = dir.file("broken.html");
  std::ofstream(page) << html;
  std::string dom = run_browser(browser, "file://" + page, "--dump-dom", dir);
  ASSERT_FALSE(dom.empty());
  EXPECT_NE(dom.find("data-reval-ready=\"0\""), std::string::npos);
  EXPECT_NE(dom.find("data-reval-errors=\"1\""), std::string::npos);
  EXPECT_NE(dom.find("Script error"), std::string::npos);
}
