// Implementation of results/report.hpp.
//
// Theory of operation: every report starts from SampleStore::sample_summaries for one run, grouped by task and
// problem into metrics inputs (to_problem_samples), then compute_task_metrics. The renderers only format the
// resulting TaskSummary rows: a small TextTable serves both Markdown and the aligned terminal tables; CSV and JSON
// carry raw fractions (NaN/undefined -> empty cell / null); HTML is one self-contained page (inline CSS, no
// scripts) with a provenance table, the leaderboard and, per task, an SVG chart of pass@k against k (log2 axis)
// with one line per run. Stored ratings (report_ratings(): one per run, task and method) get their own table in
// Markdown/HTML, per-method columns in CSV and a "ratings" list in JSON; the percentile is always printed with its
// population.
#include "results/report.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/error.hpp"
#include "results/codeforces_rating.hpp"
#include "results/rating.hpp"
#include "reval/version.hpp"

namespace reval {

namespace {

bool finite(double v) { return std::isfinite(v); }

std::string pct(double v) { return finite(v) ? fmt::format("{:.1f}", 100.0 * v) : "-"; }

std::string pct_ci(const Estimate& e) {
  if (e.n < 2 || !finite(e.ci_lo)) return "-";
  return fmt::format("[{}, {}]", pct(e.ci_lo), pct(e.ci_hi));
}

std::string pct_se(const Estimate& e) {
  if (e.n == 0) return "-";
  return finite(e.se) ? fmt::format("{} ± {}", pct(e.mean), pct(e.se)) : pct(e.mean);
}

nlohmann::json num(double v) { return finite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

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

std::string csv_cell(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string csv_num(double v) { return finite(v) ? fmt::format("{:.6g}", v) : ""; }

std::string html_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

bool all_digits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Groups a run's samples (ordered by task, problem, index) into per-task metrics inputs.
std::map<std::string, std::vector<ProblemSamples>> to_problem_samples(const std::vector<SampleSummary>& rows) {
  std::map<std::string, std::vector<ProblemSamples>> out;
  for (const auto& r : rows) {
    auto& problems = out[r.key.task];
    if (problems.empty() || problems.back().problem_id != r.key.problem_id)
      problems.push_back(ProblemSamples{r.key.problem_id, {}});
    SampleOutcome o;
    o.sample_index = r.key.sample_index;
    if (!r.error.empty() || (r.grade && r.grade->result.verdict == Verdict::infra_error)) {
      o.kind = OutcomeKind::infra_error;
    } else if (!r.grade) {
      o.kind = OutcomeKind::ungraded;
    } else {
      o.kind = OutcomeKind::scored;
      o.correct = r.grade->result.verdict == Verdict::correct;
      o.answer = r.grade->result.extracted;
    }
    problems.back().samples.push_back(std::move(o));
  }
  return out;
}

std::vector<int> all_ks(const std::vector<TaskSummary>& rows) {
  std::set<int> ks;
  for (const auto& r : rows)
    for (const auto& p : r.metrics.pass_at) ks.insert(p.k);
  return {ks.begin(), ks.end()};
}

const PassAtK* find_k(const TaskSummary& r, int k) {
  for (const auto& p : r.metrics.pass_at)
    if (p.k == k) return &p;
  return nullptr;
}

std::string known_runs(SampleStore& store) {
  std::string names;
  for (const auto& r : store.list_runs())
    names.append(names.empty() ? "" : ", ").append(r.name).append(" (").append(std::to_string(r.id)).append(")");
  return names.empty() ? "none" : names;
}

// ---- renderers ----

std::string cons_cell(const TaskSummary& r) {
  if (!r.metrics.cons) return "-";
  const auto& c = *r.metrics.cons;
  if (c.ties == 0) return fmt::format("{} (@{})", pct(c.value.mean), c.k);
  return fmt::format("{} (@{}, {} tie{})", pct(c.value.mean), c.k, c.ties, c.ties == 1 ? "" : "s");
}

// A result computed without every sample: some are still ungraded or failed for infra reasons (left out of the
// denominators). Marked with "*" in the tables and "partial": true in JSON/CSV, so a partial number is never read
// as a final one.
bool partial(const TaskMetrics& m) { return m.ungraded > 0 || m.infra_errors > 0; }
constexpr const char* kPartialNote =
    "* partial: some samples are ungraded or infra errors and are left out; pass@1 is over the scored samples only "
    "(resume or `reval regrade` to complete it).";

bool any_partial(const Leaderboard& b) {
  return std::any_of(b.rows.begin(), b.rows.end(), [](const TaskSummary& r) { return partial(r.metrics); });
}

TextTable leaderboard_table(const Leaderboard& b) {
  TextTable t;
  auto ks = all_ks(b.rows);
  t.header = {"run", "task", "problems", "samples", "infra errors", "ungraded",
              "pass@1 ± SE", fmt::format("{:.0f}% CI", 100 * b.confidence), "cons@k"};
  t.right = {false, false, true, true, true, true, true, true, true};
  for (int k : ks) {
    if (k == 1) continue;
    t.header.push_back(fmt::format("pass@{}", k));
    t.right.push_back(true);
  }
  for (const auto& r : b.rows) {
    const auto& m = r.metrics;
    std::vector<std::string> row = {r.run_name,
                                    r.task,
                                    std::to_string(m.problems),
                                    std::to_string(m.samples),
                                    std::to_string(m.infra_errors),
                                    std::to_string(m.ungraded),
                                    pct_se(m.pass1) + (partial(m) ? " *" : ""),
                                    pct_ci(m.pass1),
                                    cons_cell(r)};
    for (int k : ks) {
      if (k == 1) continue;
      const auto* p = find_k(r, k);
      row.push_back(p ? pct(p->value) : "-");
    }
    t.rows.push_back(std::move(row));
  }
  return t;
}

// ---- ratings ----

std::string rating_ci(const RatingRecord& r) {
  if (!finite(r.rating) || (!finite(r.ci_lo) && !finite(r.ci_hi))) return "-";
  auto end = [](double v, const char* inf) { return finite(v) ? fmt::format("{:.0f}", v) : std::string(inf); };
  if (r.method == "standings" && r.used < 2) return "-";
  return fmt::format("[{}, {}]", end(r.ci_lo, "-inf"), end(r.ci_hi, "+inf"));
}

std::string censoring(const RatingRecord& r) {
  return r.details.contains("mle") && r.details["mle"].is_object() ? r.details["mle"].value("censored", "none")
                                                                    : std::string("none");
}

std::string method_label(const std::string& m) {
  return m == "standings" ? "standings (CodeElo)" : m == "problems" ? "problem ratings (MLE)" : m;
}

std::string used_cell(const RatingRecord& r) {
  return fmt::format("{} {} used, {} skipped", r.used, r.method == "standings" ? "contests" : "problems", r.skipped);
}

std::string run_name_of(const Leaderboard& b, std::int64_t id) {
  for (const auto& r : b.runs)
    if (r.id == id) return r.name;
  return std::to_string(id);
}

TextTable ratings_table(const Leaderboard& b) {
  TextTable t;
  t.header = {"run", "task", "method", "attempts", "rating ± SE", fmt::format("{:.0f}% CI", 100 * b.confidence),
              "percentile (population)", "used / skipped"};
  t.right = {false, false, false, true, true, true, false, false};
  for (const auto& r : b.ratings) {
    t.header[5] = fmt::format("{:.0f}% CI", 100 * r.params.value("confidence", b.confidence));
    t.rows.push_back({run_name_of(b, r.run_id), r.task, method_label(r.method),
                      std::to_string(r.params.value("attempts", 0)), format_rating_value(r), rating_ci(r),
                      format_percentile(r), used_cell(r)});
  }
  return t;
}

constexpr const char* kRatingNote =
    "Ratings are on the Codeforces scale. standings: CodeElo's method, the mean over contests of the rating at which "
    "the model's expected place among the contest's rated participants equals its place (± standard error over "
    "contests). problem ratings: the maximum-likelihood Elo rating given which rated problems were solved (± "
    "standard error; profile-likelihood interval). A problem counts as solved when one of its first `attempts` "
    "graded samples passed. The percentile is the share of the named population rated below the rating.";

std::string render_md(const Leaderboard& b) {
  std::string out = "# reval leaderboard\n\n";
  // Overview: pass@1 per run (rows) and task (columns).
  if (!b.rows.empty()) {
    TextTable o;
    o.header = {"run"};
    o.right = {false};
    for (const auto& t : b.tasks) {
      o.header.push_back(t);
      o.right.push_back(true);
    }
    for (const auto& run : b.runs) {
      std::vector<std::string> row = {run.name};
      for (const auto& t : b.tasks) {
        auto it = std::find_if(b.rows.begin(), b.rows.end(),
                               [&](const TaskSummary& r) { return r.run_id == run.id && r.task == t; });
        row.push_back(it == b.rows.end() ? "-" : pct(it->metrics.pass1.mean) + (partial(it->metrics) ? " *" : ""));
      }
      o.rows.push_back(std::move(row));
    }
    out += "## pass@1 (%)\n\n" + o.markdown() + "\n";
  }
  out += "## Details\n\n" + leaderboard_table(b).markdown();
  out += "\nValues in %. pass@1 is the mean over each problem's samples, then over problems; the interval is a "
         "percentile bootstrap over problems. cons@k is the majority vote over the first k samples (ties: earliest "
         "answer; the number of tied votes is shown). Infra errors are excluded from every denominator.\n";
  if (any_partial(b)) out += std::string("\n") + kPartialNote + "\n";
  if (!b.ratings.empty()) {
    out += "\n## Codeforces ratings\n\n" + ratings_table(b).markdown();
    out += std::string("\n") + kRatingNote + "\n";
  }
  return out;
}

std::string render_csv(const Leaderboard& b) {
  auto ks = all_ks(b.rows);
  std::vector<std::string> header = {"run", "run_id", "model", "task", "problems", "samples", "scored",
                                     "infra_errors", "ungraded", "n", "pass@1", "pass@1_se", "pass@1_ci_lo",
                                     "pass@1_ci_hi", "cons_k", "cons", "cons_ci_lo", "cons_ci_hi", "cons_ties"};
  for (int k : ks) header.push_back(fmt::format("pass@{}", k) + (k == 1 ? "_unbiased" : ""));
  header.insert(header.end(), {"truncated", "mean_completion_tokens", "mean_latency_s", "partial"});
  // Rating columns (only when some run has a rating): per method, on the row of the rated task.
  const std::vector<std::string> methods = {"standings", "problems"};
  bool with_ratings = !b.ratings.empty();
  if (with_ratings) {
    for (const auto& m : methods)
      for (const char* f : {"rating", "rating_se", "rating_ci_lo", "rating_ci_hi", "percentile", "attempts", "used",
                            "skipped"})
        header.push_back(m + "_" + f);
    header.push_back("percentile_population");
  }
  std::string out;
  for (size_t i = 0; i < header.size(); ++i) out.append(i ? "," : "").append(csv_cell(header[i]));
  out += "\n";
  std::map<std::int64_t, const RunInfo*> runs;
  for (const auto& r : b.runs) runs[r.id] = &r;
  for (const auto& r : b.rows) {
    const auto& m = r.metrics;
    std::vector<std::string> c = {r.run_name,
                                  std::to_string(r.run_id),
                                  runs.count(r.run_id) ? runs[r.run_id]->model : "",
                                  r.task,
                                  std::to_string(m.problems),
                                  std::to_string(m.samples),
                                  std::to_string(m.scored),
                                  std::to_string(m.infra_errors),
                                  std::to_string(m.ungraded),
                                  std::to_string(m.max_samples),
                                  csv_num(m.problems ? m.pass1.mean : NAN),
                                  csv_num(m.pass1.se),
                                  csv_num(m.problems ? m.pass1.ci_lo : NAN),
                                  csv_num(m.problems ? m.pass1.ci_hi : NAN)};
    if (m.cons) {
      c.insert(c.end(), {std::to_string(m.cons->k), csv_num(m.cons->value.mean), csv_num(m.cons->value.ci_lo),
                         csv_num(m.cons->value.ci_hi), std::to_string(m.cons->ties)});
    } else {
      c.insert(c.end(), {"", "", "", "", ""});
    }
    for (int k : ks) {
      const auto* p = find_k(r, k);
      c.push_back(p ? csv_num(p->value) : "");
    }
    c.insert(c.end(), {std::to_string(r.truncated), csv_num(r.mean_completion_tokens), csv_num(r.mean_latency_s),
                       partial(m) ? "true" : "false"});
    if (with_ratings) {
      std::string population;
      for (const auto& m : methods) {
        auto it = std::find_if(b.ratings.begin(), b.ratings.end(), [&](const RatingRecord& x) {
          return x.run_id == r.run_id && x.task == r.task && x.method == m;
        });
        if (it == b.ratings.end()) {
          c.insert(c.end(), 8, "");
          continue;
        }
        c.insert(c.end(), {csv_num(it->rating), csv_num(it->se), csv_num(it->ci_lo), csv_num(it->ci_hi),
                           csv_num(it->percentile), std::to_string(it->params.value("attempts", 0)),
                           std::to_string(it->used), std::to_string(it->skipped)});
        if (population.empty() && finite(it->percentile)) population = it->population;
      }
      c.push_back(population);
    }
    for (size_t i = 0; i < c.size(); ++i) out.append(i ? "," : "").append(csv_cell(c[i]));
    out += "\n";
  }
  return out;
}

nlohmann::json estimate_json(const Estimate& e) {
  return {{"mean", num(e.n ? e.mean : NAN)}, {"se", num(e.se)}, {"ci_lo", num(e.n ? e.ci_lo : NAN)},
          {"ci_hi", num(e.n ? e.ci_hi : NAN)}, {"problems", e.n}};
}

nlohmann::json run_json(const RunInfo& r) {
  return {{"id", r.id},
          {"name", r.name},
          {"model", r.model},
          {"model_hash", r.model_hash},
          {"backend", r.backend},
          {"engine_version", r.engine_version},
          {"device", r.device},
          {"host", r.host},
          {"reval_version", r.reval_version},
          {"preset", r.preset},
          {"config", r.config},
          {"created_at", r.created_at}};
}

std::string render_json(const Leaderboard& b) {
  nlohmann::json j;
  j["generated_by"] = std::string("reval ") + kVersion;
  j["confidence"] = b.confidence;
  j["tasks"] = b.tasks;
  j["runs"] = nlohmann::json::array();
  for (const auto& r : b.runs) j["runs"].push_back(run_json(r));
  j["results"] = nlohmann::json::array();
  for (const auto& r : b.rows) {
    const auto& m = r.metrics;
    nlohmann::json row = {{"run", r.run_name},
                          {"run_id", r.run_id},
                          {"task", r.task},
                          {"problems", m.problems},
                          {"problems_total", m.problems_total},
                          {"samples", m.samples},
                          {"scored", m.scored},
                          {"infra_errors", m.infra_errors},
                          {"ungraded", m.ungraded},
                          {"partial", partial(m)},
                          {"n", m.max_samples},
                          {"n_min", m.min_samples},
                          {"pass@1", num(m.problems ? m.pass1.mean : NAN)},
                          {"pass@1_se", num(m.pass1.se)},
                          {"pass@1_ci_lo", num(m.problems ? m.pass1.ci_lo : NAN)},
                          {"pass@1_ci_hi", num(m.problems ? m.pass1.ci_hi : NAN)},
                          {"truncated", r.truncated},
                          {"mean_completion_tokens", num(r.mean_completion_tokens)},
                          {"mean_latency_s", num(r.mean_latency_s)}};
    nlohmann::json pk = nlohmann::json::object();
    for (const auto& p : m.pass_at) pk[std::to_string(p.k)] = {{"value", num(p.value)}, {"problems", p.problems}};
    row["pass_at_k"] = pk;
    if (m.cons) {
      auto c = estimate_json(m.cons->value);
      c["k"] = m.cons->k;
      c["ties"] = m.cons->ties;
      c["no_votes"] = m.cons->no_votes;
      row["cons"] = c;
    } else {
      row["cons"] = nullptr;
    }
    j["results"].push_back(std::move(row));
  }
  j["ratings"] = nlohmann::json::array();
  for (const auto& r : b.ratings) {
    nlohmann::json skipped = r.details.value("skipped", nlohmann::json::array());
    j["ratings"].push_back({{"run", run_name_of(b, r.run_id)},
                            {"run_id", r.run_id},
                            {"task", r.task},
                            {"method", r.method},
                            {"params", r.params},
                            {"rating", num(r.rating)},
                            {"se", num(r.se)},
                            {"ci_lo", finite(r.ci_lo) ? nlohmann::json(r.ci_lo) : nlohmann::json(nullptr)},
                            {"ci_hi", finite(r.ci_hi) ? nlohmann::json(r.ci_hi) : nlohmann::json(nullptr)},
                            {"censored", censoring(r)},
                            {"percentile", num(r.percentile)},
                            {"population", r.population},
                            {"used", r.used},
                            {"skipped", r.skipped},
                            {"skipped_reasons", skipped},
                            {"notes", r.details.value("notes", nlohmann::json::array())},
                            {"computed_at", r.computed_at}});
  }
  return j.dump(2) + "\n";
}

constexpr const char* kPalette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

// pass@k against k for one task, one polyline per run. x: log2 k, y: 0..100 %.
std::string pass_at_k_svg(const Leaderboard& b, const std::string& task) {
  const double W = 640, H = 300, L = 50, R = 170, T = 20, B = 40;
  const double pw = W - L - R, ph = H - T - B;
  int max_k = 1;
  for (const auto& r : b.rows)
    if (r.task == task)
      for (const auto& p : r.metrics.pass_at) max_k = std::max(max_k, p.k);
  double xmax = std::max(1.0, std::log2(static_cast<double>(max_k)));
  auto X = [&](int k) { return L + pw * std::log2(static_cast<double>(k)) / xmax; };
  auto Y = [&](double v) { return T + ph * (1.0 - v); };
  std::string s = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{:.0f}\" height=\"{:.0f}\" viewBox=\"0 0 {:.0f} {:.0f}\" "
      "role=\"img\" aria-label=\"pass@k curves for {}\">\n",
      W, H, W, H, html_escape(task));
  s += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"#fff\" stroke=\"#999\"/>\n",
                   L, T, pw, ph);
  for (int g = 0; g <= 4; ++g) {
    double v = g / 4.0;
    s += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#ddd\"/>"
                     "<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"11\" text-anchor=\"end\">{:.0f}%</text>\n",
                     L, Y(v), L + pw, Y(v), L - 6, Y(v) + 4, v * 100);
  }
  for (int k = 1; k <= max_k; k *= 2)
    s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"11\" text-anchor=\"middle\">{}</text>\n", X(k),
                     T + ph + 16, k);
  s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"12\" text-anchor=\"middle\">k (samples)</text>\n",
                   L + pw / 2, H - 6);
  s += fmt::format("<text x=\"12\" y=\"{:.1f}\" font-size=\"12\" text-anchor=\"middle\" "
                   "transform=\"rotate(-90 12 {:.1f})\">pass@k</text>\n",
                   T + ph / 2, T + ph / 2);
  int series = 0;
  for (const auto& run : b.runs) {
    auto it = std::find_if(b.rows.begin(), b.rows.end(),
                           [&](const TaskSummary& r) { return r.run_id == run.id && r.task == task; });
    if (it == b.rows.end() || it->metrics.pass_at.empty()) continue;
    const char* color = kPalette[series % std::size(kPalette)];
    std::string points;
    for (const auto& p : it->metrics.pass_at) points += fmt::format("{:.1f},{:.1f} ", X(p.k), Y(p.value));
    s += fmt::format("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\" points=\"{}\"/>\n", color, points);
    for (const auto& p : it->metrics.pass_at)
      s += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3\" fill=\"{}\"><title>{} pass@{} = {}%</title>"
                       "</circle>\n",
                       X(p.k), Y(p.value), color, html_escape(run.name), p.k, pct(p.value));
    double ly = T + 10 + 18 * series;
    s += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"12\" height=\"12\" fill=\"{}\"/>"
                     "<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"12\">{}</text>\n",
                     L + pw + 12, ly - 10, color, L + pw + 30, ly, html_escape(run.name));
    ++series;
  }
  s += "</svg>\n";
  return s;
}

std::string render_html(const Leaderboard& b) {
  std::string out =
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>reval leaderboard</title>\n"
      "<style>\nbody{font-family:system-ui,sans-serif;margin:2em;color:#222}\n"
      "table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:4px 8px}"
      "th{background:#f3f3f3}td.n{text-align:right;font-variant-numeric:tabular-nums}\n"
      "figure{display:inline-block;margin:1em 2em 1em 0}figcaption{font-weight:600}\n</style>\n</head>\n<body>\n"
      "<h1>reval leaderboard</h1>\n";
  out += "<h2>Runs</h2>\n<table>\n<tr><th>id</th><th>name</th><th>model</th><th>model hash</th><th>backend</th>"
         "<th>engine</th><th>device</th><th>host</th><th>reval</th><th>preset</th><th>created</th></tr>\n";
  for (const auto& r : b.runs) {
    out += "<tr>";
    for (const auto& c : {std::to_string(r.id), r.name, r.model, r.model_hash, r.backend, r.engine_version, r.device,
                          r.host, r.reval_version, r.preset, r.created_at})
      out += "<td>" + html_escape(c) + "</td>";
    out += "</tr>\n";
  }
  out += "</table>\n<h2>Results (%)</h2>\n<table>\n<tr>";
  TextTable t = leaderboard_table(b);
  for (const auto& h : t.header) out += "<th>" + html_escape(h) + "</th>";
  out += "</tr>\n";
  for (const auto& row : t.rows) {
    out += "<tr>";
    for (size_t i = 0; i < row.size(); ++i)
      out += std::string(i < t.right.size() && t.right[i] ? "<td class=\"n\">" : "<td>") + html_escape(row[i]) +
             "</td>";
    out += "</tr>\n";
  }
  out += "</table>\n";
  if (!b.ratings.empty()) {
    TextTable rt = ratings_table(b);
    out += "<h2>Codeforces ratings</h2>\n<table>\n<tr>";
    for (const auto& h : rt.header) out += "<th>" + html_escape(h) + "</th>";
    out += "</tr>\n";
    for (const auto& row : rt.rows) {
      out += "<tr>";
      for (size_t i = 0; i < row.size(); ++i)
        out += std::string(i < rt.right.size() && rt.right[i] ? "<td class=\"n\">" : "<td>") + html_escape(row[i]) +
               "</td>";
      out += "</tr>\n";
    }
    out += "</table>\n<p>" + html_escape(kRatingNote) + "</p>\n";
  }
  out += "<h2>pass@k curves</h2>\n";
  for (const auto& task : b.tasks) {
    out += "<figure>\n<figcaption>" + html_escape(task) + "</figcaption>\n";
    out += pass_at_k_svg(b, task);
    out += "</figure>\n";
  }
  if (any_partial(b)) out += std::string("<p>") + html_escape(kPartialNote) + "</p>\n";
  out += fmt::format(
      "<p>pass@1: mean over each problem's samples, then over problems; interval: {:.0f}% percentile bootstrap over "
      "problems. Infra errors are excluded from every denominator. Generated by reval {}.</p>\n</body>\n</html>\n",
      100 * b.confidence, html_escape(kVersion));
  return out;
}

}  // namespace

ReportFormat report_format_from_string(std::string_view s) {
  if (s == "md" || s == "markdown") return ReportFormat::md;
  if (s == "csv") return ReportFormat::csv;
  if (s == "json") return ReportFormat::json;
  if (s == "html") return ReportFormat::html;
  throw Error(fmt::format("field 'format': unknown report format '{}' (known: md, csv, json, html)", s));
}

RunInfo resolve_run(SampleStore& store, const std::string& name_or_id) {
  if (auto r = store.find_run(name_or_id)) return *r;
  if (all_digits(name_or_id) && name_or_id.size() < 18)
    if (auto r = store.run_by_id(std::stoll(name_or_id))) return *r;
  throw Error(fmt::format("field 'run': no run named '{}' (known runs: {})", name_or_id, known_runs(store)));
}

namespace {
// Summaries of one run, only of `task` when it is not empty.
std::vector<TaskSummary> summarize(SampleStore& store, std::int64_t run_id, const std::string& only_task,
                                   const MetricsOptions& options) {
  auto run = store.run_by_id(run_id);
  if (!run) throw Error(fmt::format("field 'run': no run with id {}", run_id));
  auto rows = store.sample_summaries(run_id, only_task);
  auto grouped = to_problem_samples(rows);
  std::vector<TaskSummary> out;
  for (auto& [task, problems] : grouped) {
    TaskSummary s;
    s.run_id = run_id;
    s.run_name = run->name;
    s.task = task;
    s.metrics = compute_task_metrics(problems, options);
    double tok = 0, lat = 0;
    int ntok = 0, nlat = 0;
    for (const auto& r : rows) {
      if (r.key.task != task) continue;
      if (r.finish_reason == "length") ++s.truncated;
      if (r.completion_tokens >= 0) {
        tok += static_cast<double>(r.completion_tokens);
        ++ntok;
      }
      if (r.error.empty()) {
        lat += r.latency_s;
        ++nlat;
      }
    }
    s.mean_completion_tokens = ntok ? tok / ntok : NAN;
    s.mean_latency_s = nlat ? lat / nlat : NAN;
    out.push_back(std::move(s));
  }
  return out;
}
}  // namespace

std::vector<TaskSummary> summarize_run(SampleStore& store, std::int64_t run_id, const MetricsOptions& options) {
  return summarize(store, run_id, "", options);
}

std::string format_run_summary(const std::vector<TaskSummary>& summaries) {
  TextTable t;
  t.header = {"task", "problems", "samples", "pass@1 % ± SE", "CI", "cons@k %", "pass@k %", "infra errors",
              "ungraded", "truncated", "mean tokens"};
  t.right = {false, true, true, true, true, true, false, true, true, true, true};
  for (const auto& s : summaries) {
    const auto& m = s.metrics;
    std::string pk;
    for (const auto& p : m.pass_at) {
      if (p.k == 1) continue;
      pk.append(pk.empty() ? "" : " ").append(fmt::format("@{}={}", p.k, pct(p.value)));
    }
    t.rows.push_back({s.task, std::to_string(m.problems), std::to_string(m.samples),
                      pct_se(m.pass1) + (partial(m) ? " *" : ""),
                      pct_ci(m.pass1), cons_cell(s), pk.empty() ? "-" : pk, std::to_string(m.infra_errors),
                      std::to_string(m.ungraded), std::to_string(s.truncated),
                      finite(s.mean_completion_tokens) ? fmt::format("{:.0f}", s.mean_completion_tokens) : "-"});
  }
  std::string out = t.plain();
  if (std::any_of(summaries.begin(), summaries.end(), [](const TaskSummary& s) { return partial(s.metrics); }))
    out += std::string(kPartialNote) + "\n";
  return out;
}

std::string format_run_summary(SampleStore& store, std::int64_t run_id, const MetricsOptions& options) {
  auto run = store.run_by_id(run_id);
  if (!run) throw Error(fmt::format("field 'run': no run with id {}", run_id));
  auto summaries = summarize_run(store, run_id, options);
  std::string out = fmt::format("run {} ({}, model {})\n", run->id, run->name, run->model);
  if (summaries.empty()) return out + "no samples\n";
  out += format_run_summary(summaries);
  for (const auto& r : report_ratings(store.ratings(run_id)))
    out += fmt::format("{} rating by {}, attempts <= {}: {}; percentile {}; {}\n", r.task, method_label(r.method),
                       r.params.value("attempts", 0), format_rating_value(r), format_percentile(r), used_cell(r));
  return out;
}

Leaderboard build_leaderboard(SampleStore& store, const ReportOptions& options) {
  Leaderboard b;
  b.confidence = options.metrics.bootstrap.confidence;
  if (options.runs.empty()) {
    b.runs = store.list_runs();
  } else {
    std::set<std::int64_t> seen;
    for (const auto& name : options.runs) {
      auto r = resolve_run(store, name);
      if (seen.insert(r.id).second) b.runs.push_back(std::move(r));
    }
  }
  std::set<std::string> tasks;
  for (const auto& run : b.runs) {
    for (auto& s : summarize(store, run.id, options.task, options.metrics)) {
      tasks.insert(s.task);
      b.rows.push_back(std::move(s));
    }
  }
  b.tasks.assign(tasks.begin(), tasks.end());
  for (const auto& run : b.runs)
    for (auto& r : report_ratings(store.ratings(run.id, options.task))) b.ratings.push_back(std::move(r));
  return b;
}

std::string render_leaderboard(const Leaderboard& board, ReportFormat format) {
  switch (format) {
    case ReportFormat::md: return render_md(board);
    case ReportFormat::csv: return render_csv(board);
    case ReportFormat::json: return render_json(board);
    case ReportFormat::html: return render_html(board);
  }
  throw Error("unknown report format");
}

std::string format_runs_table(SampleStore& store) {
  TextTable t;
  t.header = {"id", "name", "model", "backend", "tasks", "samples", "created"};
  t.right = {true, false, false, false, false, true, false};
  for (const auto& r : store.list_runs()) {
    auto counts = store.sample_counts(r.id);
    std::string tasks;
    std::int64_t total = 0;
    for (const auto& [task, n] : counts) {
      tasks.append(tasks.empty() ? "" : ",").append(task);
      total += n;
    }
    t.rows.push_back({std::to_string(r.id), r.name, r.model, r.backend, tasks.empty() ? "-" : tasks,
                      std::to_string(total), r.created_at});
  }
  if (t.rows.empty()) return "no runs\n";
  return t.plain();
}

RunComparison compare_runs(SampleStore& store, const std::string& run_a, const std::string& run_b,
                           const std::string& task, const PairedOptions& options) {
  RunComparison c;
  c.a = resolve_run(store, run_a);
  c.b = resolve_run(store, run_b);
  c.confidence = options.bootstrap.confidence;
  MetricsOptions mo;
  mo.bootstrap = options.bootstrap;
  mo.ks = {1};
  mo.cons_k = 1;
  auto by_task = [&](const RunInfo& r) {
    std::map<std::string, TaskMetrics> out;
    for (auto& [t, problems] : to_problem_samples(store.sample_summaries(r.id, task)))
      out[t] = compute_task_metrics(problems, mo);
    return out;
  };
  auto ma = by_task(c.a), mb = by_task(c.b);
  std::set<std::string> tasks;
  for (const auto& [t, m] : ma) tasks.insert(t);
  for (const auto& [t, m] : mb) tasks.insert(t);
  if (!task.empty() && tasks.empty())
    throw Error(fmt::format("field 'task': neither run '{}' nor '{}' has samples of task '{}'", c.a.name, c.b.name,
                            task));
  for (const auto& t : tasks) {
    auto ia = ma.find(t), ib = mb.find(t);
    if (ia == ma.end() || ib == mb.end()) {
      c.skipped.push_back(t);
      continue;
    }
    TaskComparison tc;
    tc.task = t;
    std::vector<double> va, vb;
    for (const auto& [pid, v] : ia->second.per_problem) {
      auto jt = ib->second.per_problem.find(pid);
      if (jt == ib->second.per_problem.end()) {
        ++tc.only_a;
        continue;
      }
      va.push_back(v);
      vb.push_back(jt->second);
    }
    for (const auto& [pid, v] : ib->second.per_problem)
      if (!ia->second.per_problem.count(pid)) ++tc.only_b;
    if (va.empty()) {
      c.skipped.push_back(t);
      continue;
    }
    tc.result = paired_compare(va, vb, options);
    c.tasks.push_back(std::move(tc));
  }
  auto ra = report_ratings(store.ratings(c.a.id, task)), rb = report_ratings(store.ratings(c.b.id, task));
  for (const auto& x : ra)
    for (const auto& y : rb) {
      if (x.task != y.task || x.method != y.method) continue;
      RatingComparison rc;
      rc.task = x.task;
      rc.method = x.method;
      rc.a = x;
      rc.b = y;
      rc.same_params = x.params == y.params;
      rc.diff = x.rating - y.rating;
      rc.se = rc.ci_lo = rc.ci_hi = rc.p_value = rc.paired_diff = NAN;
      if (x.method == "standings") {
        std::map<std::int64_t, double> by_contest;
        for (const auto& ct : x.details.value("contests", nlohmann::json::array()))
          by_contest[ct.value("id", std::int64_t{0})] = ct.value("rating", 0.0);
        std::vector<double> va, vb;
        for (const auto& ct : y.details.value("contests", nlohmann::json::array())) {
          auto it = by_contest.find(ct.value("id", std::int64_t{0}));
          if (it == by_contest.end()) continue;
          va.push_back(it->second);
          vb.push_back(ct.value("rating", 0.0));
        }
        rc.common_contests = static_cast<int>(va.size());
        if (!va.empty()) {
          PairedComparison pc = paired_compare(va, vb, options);
          rc.paired_diff = pc.diff;
          rc.se = pc.se;
          if (pc.problems >= 2) {
            rc.ci_lo = pc.ci_lo;
            rc.ci_hi = pc.ci_hi;
          }
          rc.p_value = pc.p_value;
        }
      } else if (finite(x.se) && finite(y.se) && finite(rc.diff)) {
        rc.se = std::hypot(x.se, y.se);
        double z = normal_quantile(0.5 + 0.5 * c.confidence);
        rc.ci_lo = rc.diff - z * rc.se;
        rc.ci_hi = rc.diff + z * rc.se;
        rc.p_value = std::erfc(std::fabs(rc.diff / rc.se) / std::sqrt(2.0));
      }
      c.ratings.push_back(std::move(rc));
    }
  return c;
}

std::string format_comparison(const RunComparison& cmp) {
  std::string out = fmt::format("A = {} (id {}, {})\nB = {} (id {}, {})\n\n", cmp.a.name, cmp.a.id, cmp.a.model,
                                cmp.b.name, cmp.b.id, cmp.b.model);
  TextTable t;
  t.header = {"task", "problems", "A pass@1 %", "B pass@1 %", "A-B (pts)", "SE",
              fmt::format("{:.0f}% CI", 100 * cmp.confidence), "p-value", "only A", "only B"};
  t.right = {false, true, true, true, true, true, true, true, true, true};
  for (const auto& tc : cmp.tasks) {
    const auto& r = tc.result;
    std::string diff = fmt::format("{:+.1f}", 100 * r.diff);
    std::string ci = r.problems >= 2 ? fmt::format("[{:+.1f}, {:+.1f}]", 100 * r.ci_lo, 100 * r.ci_hi) : "-";
    bool at_floor = !r.exact && r.permutations > 0 && r.p_value * (r.permutations + 1) < 1.5;
    std::string p = at_floor ? fmt::format("<{:.2g}", 2.0 / (r.permutations + 1))
                             : fmt::format("{:.4f}{}", r.p_value, r.exact ? " (exact)" : "");
    t.rows.push_back({tc.task, std::to_string(r.problems), pct(r.mean_a), pct(r.mean_b), diff,
                      finite(r.se) ? fmt::format("{:.1f}", 100 * r.se) : "-", ci, p, std::to_string(tc.only_a),
                      std::to_string(tc.only_b)});
  }
  out += t.rows.empty() ? std::string("no task scored by both runs\n") : t.plain();
  if (!cmp.skipped.empty()) {
    std::string s;
    for (const auto& x : cmp.skipped) s.append(s.empty() ? "" : ", ").append(x);
    out += "not compared (not scored by both runs): " + s + "\n";
  }
  out += "\nPaired over problems scored by both runs. CI: paired percentile bootstrap over problems. p-value: "
         "two-sided paired sign-flip permutation test on the per-problem pass@1 differences.\n";
  if (!cmp.ratings.empty()) {
    TextTable r;
    r.header = {"task", "method", "A rating", "B rating", "A-B", "SE", fmt::format("{:.0f}% CI", 100 * cmp.confidence),
                "p-value", "basis"};
    r.right = {false, false, true, true, true, true, true, true, false};
    bool differing = false;
    for (const auto& rc : cmp.ratings) {
      std::string basis;
      if (rc.method == "standings")
        basis = rc.common_contests > 0
                    ? fmt::format("paired over {} common contest{} (their mean A-B {:+.0f})", rc.common_contests,
                                  rc.common_contests == 1 ? "" : "s", rc.paired_diff)
                    : "no common contest";
      else
        basis = finite(rc.se) ? "independent estimates" : "censored: no standard error";
      if (!rc.same_params) {
        basis += "; parameters differ";
        differing = true;
      }
      r.rows.push_back({rc.task, method_label(rc.method), format_rating_value(rc.a), format_rating_value(rc.b),
                        finite(rc.diff) ? fmt::format("{:+.0f}", rc.diff) : "-",
                        finite(rc.se) ? fmt::format("{:.0f}", rc.se) : "-",
                        finite(rc.ci_lo) ? fmt::format("[{:+.0f}, {:+.0f}]", rc.ci_lo, rc.ci_hi) : "-",
                        finite(rc.p_value) ? fmt::format("{:.4f}", rc.p_value) : "-", basis});
    }
    out += "\nCodeforces ratings\n" + r.plain();
    for (const auto& rc : cmp.ratings) {
      if (finite(rc.a.percentile) && finite(rc.b.percentile) && rc.a.population == rc.b.population &&
          censoring(rc.a) == "none" && censoring(rc.b) == "none")
        out += fmt::format("percentile ({}): A {:.1f} %, B {:.1f} % of {}\n", rc.method, rc.a.percentile,
                           rc.b.percentile, rc.a.population);
      else
        out += fmt::format("percentile ({}): A {}; B {}\n", rc.method, format_percentile(rc.a),
                           format_percentile(rc.b));
    }
    out += "Standings ratings: paired over the contests both runs were rated on (their SE, paired bootstrap CI and "
           "sign-flip p-value). Problem-rating MLEs: independent estimates, SE = sqrt(SE_A² + SE_B²), normal "
           "interval.\n";
    if (differing) out += "Some ratings were computed with different parameters (attempts, contests): compare with care.\n";
  }
  return out;
}

}  // namespace reval
