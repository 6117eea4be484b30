// The HTML report: one self-contained file (inline CSS, inline SVG, one inline script; nothing is fetched), made
// to open quickly with 10 runs x 10 tasks x 64 samples per problem:
// - a leaderboard of runs x tasks (pass@1 with its bootstrap CI; click a header to sort);
// - per task: pass@k curves with bootstrap CI bands (no chart when every run has k = 1), a table of pass@1, pass@k,
//   cons@k (math and choice tasks), mean/median completion tokens, truncated share, infra errors and ungraded
//   samples, and breakdowns by problem metadata (subject, level, domain, difficulty, platform, rating band, ...);
// - comparisons of every run with a baseline run on the tasks they share (paired pass@1 difference, CI, p-value);
// - stored Codeforces ratings, the runs' provenance;
// - a per-problem view: a grid of which runs solved which problem (filter, search), and for one problem its prompt,
//   gold answers and every run's samples: verdicts, extracted answers with their votes, token counts, and a few
//   completions (collapsed), with the extracted answer highlighted.
//
// Size: the per-sample data is embedded compactly (one character per verdict, token counts, each distinct answer
// once per problem and run). Completion text is the only thing that can make the page large, so it is bounded:
// HtmlReportOptions::completions per problem and run (chosen to show different verdicts), each cut to its first
// quarter and last three quarters (where the final answer is) around a note of what was left out, and all of them
// together to text_budget characters (the per-completion length shrinks to fit; below min_completion_chars no
// completion is embedded and the page says so). The full text is always one `reval samples` command away; the
// page shows that command for each problem.
//
// The page marks itself when its script has run: <body data-reval-ready="1" data-reval-errors="0">; a script error
// sets data-reval-errors and shows a message (what the browser test checks).
#pragma once
#include <cstdint>
#include <string>

#include "results/metrics.hpp"
#include "results/report.hpp"
#include "results/store.hpp"

namespace reval {

struct HtmlReportOptions {
  int completions = 2;                        // completions embedded per problem and run (0: none)
  std::int64_t completion_chars = 3000;       // longest embedded completion, in characters
  std::int64_t text_budget = 12'000'000;      // all embedded completion text together, in characters
  std::int64_t min_completion_chars = 300;    // below this per-completion length, embed no completion at all
  std::int64_t prompt_chars = 6000;           // prompts longer than this are cut likewise
  std::string baseline;                       // run the others are compared with (name or id); "": the first run
  PairedOptions paired;                       // statistics of the comparisons
  std::string db_path;                        // named in the `reval samples` commands the page shows
};

// The page for `board` (built with ReportOptions::digests for the per-problem view and ReportOptions::by = {"auto"}
// for breakdowns). `store` supplies prompts and completions; nullptr leaves them out.
std::string render_html_report(const Leaderboard& board, SampleStore* store, const HtmlReportOptions& options = {});

}  // namespace reval
