// Helpers shared by the report renderers (results/report.cpp: text, Markdown, CSV, JSON; results/report_html.cpp:
// HTML): number formatting, a small text table, the leaderboard, breakdown and ratings tables and the notes printed
// under them. Not part of the public API.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "results/report.hpp"

namespace reval::report_detail {

bool finite(double v);
std::string pct(double v);              // value*100 with one decimal, "-" when not finite
std::string pct_ci(const Estimate& e);  // "[lo, hi]" in %, "-" with fewer than 2 problems
std::string pct_se(const Estimate& e);  // "mean ± se" in %
std::string csv_cell(const std::string& s);
std::string csv_num(double v);
std::string html_escape(std::string_view s);
bool natural_less(const std::string& a, const std::string& b);  // digit runs compare as numbers

std::string run_name_of(const Leaderboard& b, std::int64_t id);
std::vector<int> all_ks(const std::vector<TaskSummary>& rows);
const PassAtK* find_k(const TaskSummary& r, int k);
bool partial(const TaskMetrics& m);     // some samples ungraded or infra errors
bool any_partial(const Leaderboard& b);
std::string cons_cell(const TaskSummary& r);
std::string tokens_cell(double v);
std::string pass_k_cell(const PassAtK& p);  // "value [lo, hi]" in %
std::string diff_cell(const PairedComparison& r);
std::string diff_ci_cell(const PairedComparison& r);
std::string p_value_cell(const PairedComparison& r);

// ---- a minimal table used by the Markdown and terminal renderers ----

struct TextTable {
  std::vector<std::string> header;
  std::vector<bool> right;  // right-align column
  std::vector<std::vector<std::string>> rows;

  static std::string md_cell(const std::string& s) {
    std::string out;
    for (char c : s) {
      if (c == '|') out += "\\|";
      else if (c == '\n' || c == '\r') out += ' ';
      else out += c;
    }
    return out;
  }

  std::string markdown() const {
    std::string out = "|";
    for (const auto& h : header) out.append(" ").append(md_cell(h)).append(" |");
    out += "\n|";
    for (size_t i = 0; i < header.size(); ++i) out += (i < right.size() && right[i]) ? "---:|" : "---|";
    out += "\n";
    for (const auto& r : rows) {
      out += "|";
      for (const auto& c : r) out.append(" ").append(md_cell(c)).append(" |");
      out += "\n";
    }
    return out;
  }

  // Display width in code points (good enough for the ± sign and names).
  static size_t width(const std::string& s) {
    size_t w = 0;
    for (unsigned char c : s) w += (c & 0xC0) != 0x80;
    return w;
  }

  std::string plain() const {
    std::vector<size_t> w(header.size(), 0);
    for (size_t i = 0; i < header.size(); ++i) w[i] = width(header[i]);
    for (const auto& r : rows)
      for (size_t i = 0; i < r.size() && i < w.size(); ++i) w[i] = std::max(w[i], width(r[i]));
    auto line = [&](const std::vector<std::string>& cells) {
      std::string out;
      for (size_t i = 0; i < cells.size(); ++i) {
        std::string pad(w[i] - width(cells[i]), ' ');
        bool r = i < right.size() && right[i];
        out += r ? pad + cells[i] : cells[i] + (i + 1 < cells.size() ? pad : "");
        if (i + 1 < cells.size()) out += "  ";
      }
      return out + "\n";
    };
    std::string out = line(header);
    size_t total = 0;
    for (size_t x : w) total += x + 2;
    out += std::string(total > 2 ? total - 2 : 0, '-') + "\n";
    for (const auto& r : rows) out += line(r);
    return out;
  }
};

TextTable leaderboard_table(const Leaderboard& b);
// Breakdown tables, one per (task, key): groups down, runs across ("pass@1 ± SE (problems)").
struct BreakdownTable {
  std::string task, key;
  TextTable table;
};

std::vector<BreakdownTable> breakdown_tables(const Leaderboard& b);
TextTable ratings_table(const Leaderboard& b);

inline constexpr const char* kPartialNote =
    "* partial: some samples are ungraded or infra errors and are left out; pass@1 is over the scored samples only "
    "(resume or `reval regrade` to complete it).";
inline constexpr const char* kRatingNote =
    "Ratings are on the Codeforces scale. standings: CodeElo's method, the mean over contests of the rating at which "
    "the model's expected place among the contest's rated participants equals its place (± standard error over "
    "contests). problem ratings: the maximum-likelihood Elo rating given which rated problems were solved (± "
    "standard error; profile-likelihood interval). A problem counts as solved when one of its first `attempts` "
    "graded samples passed. The percentile is the share of the named population rated below the rating.";
inline constexpr const char* kMethodNote =
    "Values in %. pass@1 is the mean over each problem's samples, then over problems; pass@k is the unbiased "
    "estimator over problems with at least k samples; intervals are percentile bootstraps over problems. cons@k is "
    "the majority vote over the first k samples' extracted answers (math and choice tasks only: code is not voted "
    "on; ties: earliest answer; the number of tied votes is shown). Tokens: completion tokens per sample; truncated: "
    "share of generated samples that stopped at the length limit. Infra errors are excluded from every denominator.";

}  // namespace reval::report_detail
