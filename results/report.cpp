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
#include "results/report_html.hpp"
#include "results/report_internal.hpp"
#include "reval/version.hpp"

namespace reval {

namespace report_detail {

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

std::string run_name_of(const Leaderboard& b, std::int64_t id) {
  for (const auto& r : b.runs)
    if (r.id == id) return r.name;
  return std::to_string(id);
}

std::string diff_cell(const PairedComparison& r) { return fmt::format("{:+.1f}", 100 * r.diff); }

std::string diff_ci_cell(const PairedComparison& r) {
  return r.problems >= 2 ? fmt::format("[{:+.1f}, {:+.1f}]", 100 * r.ci_lo, 100 * r.ci_hi) : "-";
}

// A Monte Carlo p-value at its floor (no permutation as extreme) is shown as "<2/(permutations+1)".
std::string p_value_cell(const PairedComparison& r) {
  bool at_floor = !r.exact && r.permutations > 0 && r.p_value * (r.permutations + 1) < 1.5;
  return at_floor ? fmt::format("<{:.2g}", 2.0 / (r.permutations + 1))
                  : fmt::format("{:.4f}{}", r.p_value, r.exact ? " (exact)" : "");
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

bool any_partial(const Leaderboard& b) {
  return std::any_of(b.rows.begin(), b.rows.end(), [](const TaskSummary& r) { return partial(r.metrics); });
}

std::string tokens_cell(double v) { return finite(v) ? fmt::format("{:.0f}", v) : "-"; }

std::string pass_k_cell(const PassAtK& p) {
  if (p.problems < 2 || !finite(p.ci_lo)) return pct(p.value);
  return fmt::format("{} [{}, {}]", pct(p.value), pct(p.ci_lo), pct(p.ci_hi));
}

TextTable leaderboard_table(const Leaderboard& b) {
  TextTable t;
  auto ks = all_ks(b.rows);
  t.header = {"run", "task", "problems", "samples", "infra errors", "ungraded",
              "pass@1 ± SE", fmt::format("{:.0f}% CI", 100 * b.confidence), "cons@k",
              "mean tokens", "median tokens", "truncated %"};
  t.right = {false, false, true, true, true, true, true, true, true, true, true, true};
  for (int k : ks) {
    if (k == 1) continue;
    t.header.push_back(fmt::format("pass@{} [CI]", k));
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
                                    cons_cell(r),
                                    tokens_cell(r.mean_completion_tokens),
                                    tokens_cell(r.median_completion_tokens),
                                    pct(r.truncated_share)};
    for (int k : ks) {
      if (k == 1) continue;
      const auto* p = find_k(r, k);
      row.push_back(p ? pass_k_cell(*p) : "-");
    }
    t.rows.push_back(std::move(row));
  }
  return t;
}

std::vector<BreakdownTable> breakdown_tables(const Leaderboard& b) {
  std::vector<BreakdownTable> out;
  std::vector<std::int64_t> run_ids;
  for (const auto& r : b.runs) run_ids.push_back(r.id);
  size_t i = 0;
  while (i < b.breakdowns.size()) {
    size_t j = i;
    while (j < b.breakdowns.size() && b.breakdowns[j].task == b.breakdowns[i].task &&
           b.breakdowns[j].key == b.breakdowns[i].key)
      ++j;
    BreakdownTable bt{b.breakdowns[i].task, b.breakdowns[i].key, {}};
    std::vector<std::int64_t> present;
    for (auto id : run_ids)
      for (size_t x = i; x < j; ++x)
        if (b.breakdowns[x].run_id == id) {
          present.push_back(id);
          break;
        }
    bt.table.header = {bt.key, "problems"};
    bt.table.right = {false, true};
    for (auto id : present) {
      bt.table.header.push_back(run_name_of(b, id) + " pass@1 ± SE");
      bt.table.header.push_back(fmt::format("{:.0f}% CI", 100 * b.confidence));
      bt.table.right.insert(bt.table.right.end(), {true, true});
    }
    size_t x = i;
    while (x < j) {
      size_t y = x;
      while (y < j && b.breakdowns[y].group == b.breakdowns[x].group) ++y;
      int problems = 0;
      for (size_t z = x; z < y; ++z) problems = std::max(problems, b.breakdowns[z].metrics.problems_total);
      std::vector<std::string> row = {b.breakdowns[x].group, std::to_string(problems)};
      for (auto id : present) {
        const BreakdownRow* r = nullptr;
        for (size_t z = x; z < y; ++z)
          if (b.breakdowns[z].run_id == id) r = &b.breakdowns[z];
        if (!r) {
          row.insert(row.end(), {"-", "-"});
          continue;
        }
        row.push_back(pct_se(r->metrics.pass1) + (partial(r->metrics) ? " *" : ""));
        row.push_back(pct_ci(r->metrics.pass1));
      }
      bt.table.rows.push_back(std::move(row));
      x = y;
    }
    out.push_back(std::move(bt));
    i = j;
  }
  return out;
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
  out += std::string("\n") + kMethodNote + "\n";
  if (any_partial(b)) out += std::string("\n") + kPartialNote + "\n";
  for (const auto& bt : breakdown_tables(b))
    out += fmt::format("\n## {} by {}\n\n", bt.task, bt.key) + bt.table.markdown();
  if (!b.by.empty() && b.breakdowns.empty()) out += "\nNo task's problems carry the breakdown fields asked for.\n";
  if (!b.ratings.empty()) {
    out += "\n## Codeforces ratings\n\n" + ratings_table(b).markdown();
    out += std::string("\n") + kRatingNote + "\n";
  }
  return out;
}

// With breakdown keys the CSV is the breakdown table in long form: one row per run, task, key and group.
std::string render_breakdown_csv(const Leaderboard& b) {
  std::string out = "run,run_id,task,key,group,problems,samples,scored,infra_errors,ungraded,pass@1,pass@1_se,"
                    "pass@1_ci_lo,pass@1_ci_hi,partial\n";
  for (const auto& r : b.breakdowns) {
    const auto& m = r.metrics;
    std::vector<std::string> c = {r.run_name, std::to_string(r.run_id), r.task, r.key, r.group,
                                  std::to_string(m.problems), std::to_string(m.samples), std::to_string(m.scored),
                                  std::to_string(m.infra_errors), std::to_string(m.ungraded),
                                  csv_num(m.problems ? m.pass1.mean : NAN), csv_num(m.pass1.se),
                                  csv_num(m.problems ? m.pass1.ci_lo : NAN), csv_num(m.problems ? m.pass1.ci_hi : NAN),
                                  partial(m) ? "true" : "false"};
    for (size_t i = 0; i < c.size(); ++i) out.append(i ? "," : "").append(csv_cell(c[i]));
    out += "\n";
  }
  return out;
}

std::string render_csv(const Leaderboard& b) {
  if (!b.by.empty()) return render_breakdown_csv(b);
  auto ks = all_ks(b.rows);
  std::vector<std::string> header = {"run", "run_id", "model", "task", "problems", "samples", "scored",
                                     "infra_errors", "ungraded", "n", "pass@1", "pass@1_se", "pass@1_ci_lo",
                                     "pass@1_ci_hi", "cons_k", "cons", "cons_ci_lo", "cons_ci_hi", "cons_ties"};
  for (int k : ks) {
    std::string name = fmt::format("pass@{}", k) + (k == 1 ? "_unbiased" : "");
    header.insert(header.end(), {name, name + "_ci_lo", name + "_ci_hi"});
  }
  header.insert(header.end(), {"truncated", "truncated_share", "mean_completion_tokens", "median_completion_tokens",
                               "mean_latency_s", "partial"});
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
      if (p) c.insert(c.end(), {csv_num(p->value), csv_num(p->ci_lo), csv_num(p->ci_hi)});
      else c.insert(c.end(), {"", "", ""});
    }
    c.insert(c.end(), {std::to_string(r.truncated), csv_num(r.truncated_share), csv_num(r.mean_completion_tokens),
                       csv_num(r.median_completion_tokens), csv_num(r.mean_latency_s), partial(m) ? "true" : "false"});
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
                          {"generated", r.generated},
                          {"truncated", r.truncated},
                          {"truncated_share", num(r.truncated_share)},
                          {"mean_completion_tokens", num(r.mean_completion_tokens)},
                          {"median_completion_tokens", num(r.median_completion_tokens)},
                          {"mean_latency_s", num(r.mean_latency_s)},
                          {"voting", r.voting}};
    nlohmann::json pk = nlohmann::json::object();
    for (const auto& p : m.pass_at)
      pk[std::to_string(p.k)] = {{"value", num(p.value)}, {"problems", p.problems}, {"se", num(p.se)},
                                 {"ci_lo", num(p.ci_lo)}, {"ci_hi", num(p.ci_hi)}};
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
  if (!b.by.empty()) {
    j["breakdowns"] = nlohmann::json::array();
    for (const auto& r : b.breakdowns) {
      const auto& m = r.metrics;
      j["breakdowns"].push_back({{"run", r.run_name}, {"run_id", r.run_id}, {"task", r.task}, {"key", r.key},
                                 {"group", r.group}, {"problems", m.problems}, {"samples", m.samples},
                                 {"infra_errors", m.infra_errors}, {"ungraded", m.ungraded}, {"partial", partial(m)},
                                 {"pass@1", estimate_json(m.pass1)}});
    }
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

}  // namespace report_detail

using namespace report_detail;

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

const std::vector<std::string>& auto_breakdown_keys() {
  static const std::vector<std::string> keys = {"category", "subject",  "level",      "domain",
                                                "difficulty", "platform", "rating_band"};
  return keys;
}

std::vector<std::string> breakdown_groups(const std::string& key, const nlohmann::json& metadata) {
  if (!metadata.is_object()) return {};
  auto scalar = [](const nlohmann::json& v) -> std::string {
    if (v.is_string()) return v.get<std::string>();
    if (v.is_null()) return "";
    return v.dump();
  };
  if (key == "rating_band") {
    auto it = metadata.find("rating");
    if (it == metadata.end() || !it->is_number()) return {};
    auto r = static_cast<long long>(std::floor(it->get<double>()));
    long long lo = r >= 0 ? r / 400 * 400 : 0;
    if (lo >= 2800) return {"2800+"};
    return {fmt::format("{}-{}", lo, lo + 399)};
  }
  auto it = metadata.find(key);
  if (it == metadata.end() || it->is_null()) return {};
  std::vector<std::string> out;
  if (it->is_array()) {
    for (const auto& v : *it)
      if (auto g = scalar(v); !g.empty() && std::find(out.begin(), out.end(), g) == out.end()) out.push_back(g);
  } else if (auto g = scalar(*it); !g.empty()) {
    out.push_back(g);
  }
  return out;
}

char sample_code(const SampleSummary& s) {
  char c = 'U';
  if (!s.error.empty()) {
    c = 'I';
  } else if (s.grade) {
    switch (s.grade->result.verdict) {
      case Verdict::correct: c = 'C'; break;
      case Verdict::wrong: c = 'W'; break;
      case Verdict::no_answer: c = 'N'; break;
      case Verdict::compile_error: c = 'E'; break;
      case Verdict::runtime_error: c = 'R'; break;
      case Verdict::time_limit: c = 'T'; break;
      case Verdict::memory_limit: c = 'M'; break;
      case Verdict::output_limit: c = 'O'; break;
      case Verdict::infra_error: c = 'I'; break;
    }
  }
  return s.finish_reason == "length" ? static_cast<char>(c - 'A' + 'a') : c;
}

// "level 2" < "level 10": digit runs compare as numbers.
bool report_detail::natural_less(const std::string& a, const std::string& b) {
  size_t i = 0, j = 0;
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  while (i < a.size() && j < b.size()) {
    if (digit(a[i]) && digit(b[j])) {
      size_t i2 = i, j2 = j;
      while (i2 < a.size() && digit(a[i2])) ++i2;
      while (j2 < b.size() && digit(b[j2])) ++j2;
      std::string x = a.substr(i, i2 - i), y = b.substr(j, j2 - j);
      x.erase(0, std::min(x.find_first_not_of('0'), x.size()));
      y.erase(0, std::min(y.find_first_not_of('0'), y.size()));
      if (x.size() != y.size()) return x.size() < y.size();
      if (x != y) return x < y;
      i = i2;
      j = j2;
    } else {
      if (a[i] != b[j]) return a[i] < b[j];
      ++i;
      ++j;
    }
  }
  return a.size() - i < b.size() - j;
}

namespace {

// Answers are voted on (cons@k) only when graders produced canonical answers: math and choice. A code grader's
// "extracted answer" is the program text.
bool votable_grader(const std::string& grader) { return grader == "math" || grader == "choice"; }

double median_of(std::vector<std::int64_t>& v) {
  if (v.empty()) return NAN;
  size_t mid = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid), v.end());
  double hi = static_cast<double>(v[mid]);
  if (v.size() % 2) return hi;
  double lo = static_cast<double>(*std::max_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid)));
  return (lo + hi) / 2;
}

// The breakdown rows of one run's task (appended to `out`; sorted later by build_leaderboard).
void add_breakdowns(SampleStore& store, const RunInfo& run, const std::string& task,
                    const std::vector<ProblemSamples>& problems, const std::vector<std::string>& by,
                    const MetricsOptions& options, std::vector<BreakdownRow>& out) {
  auto metadata = store.problem_metadata(run.id, task);
  std::vector<std::string> keys;
  bool is_auto = std::find(by.begin(), by.end(), kAutoBreakdown) != by.end();
  for (const auto& k : by)
    if (k != kAutoBreakdown && std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(k);
  if (is_auto)
    for (const auto& k : auto_breakdown_keys())
      if (std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(k);
  MetricsOptions mo = options;
  mo.ks = {1};
  mo.vote = false;
  for (const auto& key : keys) {
    std::map<std::string, std::vector<ProblemSamples>> groups;
    bool any = false;
    for (const auto& p : problems) {
      auto it = metadata.find(p.problem_id);
      auto g = it == metadata.end() ? std::vector<std::string>{} : breakdown_groups(key, it->second);
      any = any || !g.empty();
      if (g.empty()) g.push_back("(none)");
      for (const auto& name : g) groups[name].push_back(p);
    }
    if (!any) continue;                                 // no problem of this task carries the field
    if (is_auto && groups.size() < 2) continue;         // "auto": only keys that split the task
    std::vector<std::string> names;
    for (const auto& [name, ps] : groups) names.push_back(name);
    std::sort(names.begin(), names.end(), natural_less);
    for (const auto& name : names) {
      BreakdownRow r;
      r.run_id = run.id;
      r.run_name = run.name;
      r.task = task;
      r.key = key;
      r.group = name;
      r.metrics = compute_task_metrics(groups[name], mo);
      r.metrics.per_problem.clear();
      out.push_back(std::move(r));
    }
  }
}

ProblemDigest make_digest(std::int64_t run_id, const std::vector<SampleSummary>& rows, size_t begin, size_t end,
                          bool voting) {
  ProblemDigest d;
  d.run_id = run_id;
  d.task = rows[begin].key.task;
  d.problem_id = rows[begin].key.problem_id;
  std::map<std::string, int> answer_index;
  for (size_t i = begin; i < end; ++i) {
    const auto& r = rows[i];
    char c = sample_code(r);
    d.codes += c;
    d.indexes.push_back(r.key.sample_index);
    d.tokens.push_back(r.completion_tokens);
    char up = static_cast<char>(c >= 'a' ? c - 'a' + 'A' : c);
    if (up != 'I' && up != 'U') ++d.scored;
    if (up == 'C') ++d.correct;
    int a = -1;
    if (voting && r.grade && r.grade->result.extracted && up != 'I' && up != 'U') {
      std::string ans = *r.grade->result.extracted;
      if (ans.size() > 100) {
        size_t cut = 100;
        while (cut > 0 && (static_cast<unsigned char>(ans[cut]) & 0xC0) == 0x80) --cut;
        ans = ans.substr(0, cut) + "...";
      }
      auto [it, inserted] = answer_index.try_emplace(ans, static_cast<int>(d.answers.size()));
      if (inserted) d.answers.push_back(ans);
      a = it->second;
    }
    d.answer_of.push_back(a);
  }
  return d;
}

struct Summarized {
  std::vector<TaskSummary> summaries;
  std::vector<BreakdownRow> breakdowns;
  std::vector<ProblemDigest> digests;
};

// Summaries of one run, only of `task` when it is not empty; breakdowns by `by` and digests when asked.
Summarized summarize(SampleStore& store, std::int64_t run_id, const std::string& only_task,
                     const MetricsOptions& options, const std::vector<std::string>& by = {}, bool digests = false) {
  auto run = store.run_by_id(run_id);
  if (!run) throw Error(fmt::format("field 'run': no run with id {}", run_id));
  auto rows = store.sample_summaries(run_id, only_task);
  // Tasks whose every grade is from a math or choice grader get cons@k; others (code) do not.
  std::map<std::string, bool> voting;
  for (const auto& r : rows) {
    auto [it, inserted] = voting.try_emplace(r.key.task, true);
    if (r.grade && !votable_grader(r.grade->grader)) it->second = false;
  }
  auto grouped = to_problem_samples(rows);
  Summarized out;
  for (auto& [task, problems] : grouped) {
    bool votes = voting[task];
    if (!votes)
      for (auto& p : problems)
        for (auto& o : p.samples) o.answer.reset();
    TaskSummary s;
    s.run_id = run_id;
    s.run_name = run->name;
    s.task = task;
    s.voting = votes;
    MetricsOptions mo = options;
    mo.vote = options.vote && votes;
    s.metrics = compute_task_metrics(problems, mo);
    double tok = 0, lat = 0;
    int nlat = 0;
    std::vector<std::int64_t> tokens;
    for (const auto& r : rows) {
      if (r.key.task != task) continue;
      if (r.finish_reason == "length") ++s.truncated;
      if (r.completion_tokens >= 0) {
        tok += static_cast<double>(r.completion_tokens);
        tokens.push_back(r.completion_tokens);
      }
      if (r.error.empty()) {
        ++s.generated;
        lat += r.latency_s;
        ++nlat;
      }
    }
    s.mean_completion_tokens = tokens.empty() ? NAN : tok / static_cast<double>(tokens.size());
    s.median_completion_tokens = median_of(tokens);
    s.mean_latency_s = nlat ? lat / nlat : NAN;
    s.truncated_share = s.generated ? static_cast<double>(s.truncated) / s.generated : NAN;
    if (!by.empty()) add_breakdowns(store, *run, task, problems, by, options, out.breakdowns);
    out.summaries.push_back(std::move(s));
  }
  if (digests) {
    size_t i = 0;
    while (i < rows.size()) {
      size_t j = i;
      while (j < rows.size() && rows[j].key.task == rows[i].key.task && rows[j].key.problem_id == rows[i].key.problem_id)
        ++j;
      out.digests.push_back(make_digest(run_id, rows, i, j, voting[rows[i].key.task]));
      i = j;
    }
  }
  return out;
}
}  // namespace

std::vector<TaskSummary> summarize_run(SampleStore& store, std::int64_t run_id, const MetricsOptions& options) {
  return summarize(store, run_id, "", options).summaries;
}

std::string format_run_summary(const std::vector<TaskSummary>& summaries) {
  TextTable t;
  t.header = {"task", "problems", "samples", "pass@1 % ± SE", "CI", "cons@k %", "pass@k % [CI]", "infra errors",
              "ungraded", "truncated", "mean tokens", "median tokens"};
  t.right = {false, true, true, true, true, true, false, true, true, true, true, true};
  for (const auto& s : summaries) {
    const auto& m = s.metrics;
    std::string pk;
    for (const auto& p : m.pass_at) {
      if (p.k == 1) continue;
      pk.append(pk.empty() ? "" : " ").append(fmt::format("@{}={}", p.k, pass_k_cell(p)));
    }
    std::string trunc = std::to_string(s.truncated);
    if (finite(s.truncated_share)) trunc += fmt::format(" ({}%)", pct(s.truncated_share));
    t.rows.push_back({s.task, std::to_string(m.problems), std::to_string(m.samples),
                      pct_se(m.pass1) + (partial(m) ? " *" : ""),
                      pct_ci(m.pass1), cons_cell(s), pk.empty() ? "-" : pk, std::to_string(m.infra_errors),
                      std::to_string(m.ungraded), trunc, tokens_cell(s.mean_completion_tokens),
                      tokens_cell(s.median_completion_tokens)});
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
  b.metrics = options.metrics;
  b.by = options.by;
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
    auto s = summarize(store, run.id, options.task, options.metrics, options.by, options.digests);
    for (auto& t : s.summaries) {
      tasks.insert(t.task);
      b.rows.push_back(std::move(t));
    }
    for (auto& r : s.breakdowns) b.breakdowns.push_back(std::move(r));
    for (auto& d : s.digests) b.digests.push_back(std::move(d));
  }
  b.tasks.assign(tasks.begin(), tasks.end());
  // Breakdowns: task, key in the order asked ("auto" expanded in place), group in natural order, then run order
  // (stable: rows were appended run by run).
  std::vector<std::string> key_order;
  for (const auto& k : options.by) {
    if (k == kAutoBreakdown) key_order.insert(key_order.end(), auto_breakdown_keys().begin(), auto_breakdown_keys().end());
    else key_order.push_back(k);
  }
  auto key_rank = [&](const std::string& k) {
    return std::find(key_order.begin(), key_order.end(), k) - key_order.begin();
  };
  std::stable_sort(b.breakdowns.begin(), b.breakdowns.end(), [&](const BreakdownRow& x, const BreakdownRow& y) {
    if (x.task != y.task) return x.task < y.task;
    if (x.key != y.key) return key_rank(x.key) < key_rank(y.key);
    if (x.group != y.group) return natural_less(x.group, y.group);
    return false;
  });
  for (const auto& run : b.runs)
    for (auto& r : report_ratings(store.ratings(run.id, options.task))) b.ratings.push_back(std::move(r));
  return b;
}

std::string render_leaderboard(const Leaderboard& board, ReportFormat format) {
  switch (format) {
    case ReportFormat::md: return render_md(board);
    case ReportFormat::csv: return render_csv(board);
    case ReportFormat::json: return render_json(board);
    case ReportFormat::html: return render_html_report(board, nullptr);
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

std::optional<TaskComparison> compare_summaries(const TaskSummary& a, const TaskSummary& b,
                                                const PairedOptions& options) {
  TaskComparison tc;
  tc.task = a.task;
  std::vector<double> va, vb;
  const auto& pa = a.metrics.per_problem;
  const auto& pb = b.metrics.per_problem;
  for (const auto& [pid, v] : pa) {
    auto jt = pb.find(pid);
    if (jt == pb.end()) {
      ++tc.only_a;
      continue;
    }
    va.push_back(v);
    vb.push_back(jt->second);
  }
  for (const auto& [pid, v] : pb)
    if (!pa.count(pid)) ++tc.only_b;
  if (va.empty()) return std::nullopt;
  tc.result = paired_compare(va, vb, options);
  return tc;
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
  mo.vote = false;
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
    TaskSummary sa, sb;
    sa.task = sb.task = t;
    sa.metrics = std::move(ia->second);
    sb.metrics = std::move(ib->second);
    auto tc = compare_summaries(sa, sb, options);
    if (!tc) {
      c.skipped.push_back(t);
      continue;
    }
    c.tasks.push_back(std::move(*tc));
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

namespace {

TextTable comparison_table(const RunComparison& cmp) {
  TextTable t;
  t.header = {"task", "problems", "A pass@1 %", "B pass@1 %", "A-B (pts)", "SE",
              fmt::format("{:.0f}% CI", 100 * cmp.confidence), "p-value", "only A", "only B"};
  t.right = {false, true, true, true, true, true, true, true, true, true};
  for (const auto& tc : cmp.tasks) {
    const auto& r = tc.result;
    t.rows.push_back({tc.task, std::to_string(r.problems), pct(r.mean_a), pct(r.mean_b), diff_cell(r),
                      finite(r.se) ? fmt::format("{:.1f}", 100 * r.se) : "-", diff_ci_cell(r), p_value_cell(r),
                      std::to_string(tc.only_a), std::to_string(tc.only_b)});
  }
  return t;
}

std::string rating_basis(const RatingComparison& rc) {
  std::string basis;
  if (rc.method == "standings")
    basis = rc.common_contests > 0
                ? fmt::format("paired over {} common contest{} (their mean A-B {:+.0f})", rc.common_contests,
                              rc.common_contests == 1 ? "" : "s", rc.paired_diff)
                : "no common contest";
  else
    basis = finite(rc.se) ? "independent estimates" : "censored: no standard error";
  if (!rc.same_params) basis += "; parameters differ";
  return basis;
}

TextTable rating_comparison_table(const RunComparison& cmp) {
  TextTable r;
  r.header = {"task", "method", "A rating", "B rating", "A-B", "SE", fmt::format("{:.0f}% CI", 100 * cmp.confidence),
              "p-value", "basis"};
  r.right = {false, false, true, true, true, true, true, true, false};
  for (const auto& rc : cmp.ratings)
    r.rows.push_back({rc.task, method_label(rc.method), format_rating_value(rc.a), format_rating_value(rc.b),
                      finite(rc.diff) ? fmt::format("{:+.0f}", rc.diff) : "-",
                      finite(rc.se) ? fmt::format("{:.0f}", rc.se) : "-",
                      finite(rc.ci_lo) ? fmt::format("[{:+.0f}, {:+.0f}]", rc.ci_lo, rc.ci_hi) : "-",
                      finite(rc.p_value) ? fmt::format("{:.4f}", rc.p_value) : "-", rating_basis(rc)});
  return r;
}

std::string rating_comparison_notes(const RunComparison& cmp) {
  std::string out;
  bool differing = false;
  for (const auto& rc : cmp.ratings) {
    differing = differing || !rc.same_params;
    if (finite(rc.a.percentile) && finite(rc.b.percentile) && rc.a.population == rc.b.population &&
        censoring(rc.a) == "none" && censoring(rc.b) == "none")
      out += fmt::format("percentile ({}): A {:.1f} %, B {:.1f} % of {}\n", rc.method, rc.a.percentile,
                         rc.b.percentile, rc.a.population);
    else
      out += fmt::format("percentile ({}): A {}; B {}\n", rc.method, format_percentile(rc.a), format_percentile(rc.b));
  }
  out += "Standings ratings: paired over the contests both runs were rated on (their SE, paired bootstrap CI and "
         "sign-flip p-value). Problem-rating MLEs: independent estimates, SE = sqrt(SE_A² + SE_B²), normal "
         "interval.\n";
  if (differing) out += "Some ratings were computed with different parameters (attempts, contests): compare with care.\n";
  return out;
}

constexpr const char* kCompareNote =
    "Paired over problems scored by both runs. CI: paired percentile bootstrap over problems. p-value: two-sided "
    "paired sign-flip permutation test on the per-problem pass@1 differences.";

std::string skipped_line(const RunComparison& cmp) {
  if (cmp.skipped.empty()) return "";
  std::string s;
  for (const auto& x : cmp.skipped) s.append(s.empty() ? "" : ", ").append(x);
  return "not compared (not scored by both runs): " + s + "\n";
}

std::string comparison_md(const RunComparison& cmp) {
  std::string out = fmt::format("# reval compare\n\n- A = {} (id {}, {})\n- B = {} (id {}, {})\n\n", cmp.a.name,
                                cmp.a.id, cmp.a.model, cmp.b.name, cmp.b.id, cmp.b.model);
  auto t = comparison_table(cmp);
  out += t.rows.empty() ? std::string("No task scored by both runs.\n") : t.markdown();
  if (auto s = skipped_line(cmp); !s.empty()) out += "\n" + s;
  out += std::string("\n") + kCompareNote + "\n";
  if (!cmp.ratings.empty())
    out += "\n## Codeforces ratings\n\n" + rating_comparison_table(cmp).markdown() + "\n" + rating_comparison_notes(cmp);
  return out;
}

std::string comparison_csv(const RunComparison& cmp) {
  std::string out = "run_a,run_b,task,problems,a_pass@1,b_pass@1,diff,se,ci_lo,ci_hi,p_value,p_exact,permutations,"
                    "only_a,only_b\n";
  for (const auto& tc : cmp.tasks) {
    const auto& r = tc.result;
    std::vector<std::string> c = {cmp.a.name, cmp.b.name, tc.task, std::to_string(r.problems), csv_num(r.mean_a),
                                  csv_num(r.mean_b), csv_num(r.diff), csv_num(r.se), csv_num(r.ci_lo),
                                  csv_num(r.ci_hi), csv_num(r.p_value), r.exact ? "true" : "false",
                                  std::to_string(r.permutations), std::to_string(tc.only_a),
                                  std::to_string(tc.only_b)};
    for (size_t i = 0; i < c.size(); ++i) out.append(i ? "," : "").append(csv_cell(c[i]));
    out += "\n";
  }
  return out;
}

std::string comparison_json(const RunComparison& cmp) {
  nlohmann::json j;
  j["generated_by"] = std::string("reval ") + kVersion;
  j["confidence"] = cmp.confidence;
  j["a"] = run_json(cmp.a);
  j["b"] = run_json(cmp.b);
  j["tasks"] = nlohmann::json::array();
  for (const auto& tc : cmp.tasks) {
    const auto& r = tc.result;
    j["tasks"].push_back({{"task", tc.task}, {"problems", r.problems}, {"a_pass@1", num(r.mean_a)},
                          {"b_pass@1", num(r.mean_b)}, {"diff", num(r.diff)}, {"se", num(r.se)},
                          {"ci_lo", num(r.ci_lo)}, {"ci_hi", num(r.ci_hi)}, {"p_value", num(r.p_value)},
                          {"p_exact", r.exact}, {"permutations", r.permutations}, {"only_a", tc.only_a},
                          {"only_b", tc.only_b}});
  }
  j["skipped"] = cmp.skipped;
  j["ratings"] = nlohmann::json::array();
  for (const auto& rc : cmp.ratings)
    j["ratings"].push_back({{"task", rc.task}, {"method", rc.method}, {"a", num(rc.a.rating)},
                            {"b", num(rc.b.rating)}, {"diff", num(rc.diff)}, {"se", num(rc.se)},
                            {"ci_lo", num(rc.ci_lo)}, {"ci_hi", num(rc.ci_hi)}, {"p_value", num(rc.p_value)},
                            {"same_params", rc.same_params}, {"common_contests", rc.common_contests},
                            {"basis", rating_basis(rc)}});
  return j.dump(2) + "\n";
}

}  // namespace

std::string format_comparison(const RunComparison& cmp) {
  std::string out = fmt::format("A = {} (id {}, {})\nB = {} (id {}, {})\n\n", cmp.a.name, cmp.a.id, cmp.a.model,
                                cmp.b.name, cmp.b.id, cmp.b.model);
  auto t = comparison_table(cmp);
  out += t.rows.empty() ? std::string("no task scored by both runs\n") : t.plain();
  out += skipped_line(cmp);
  out += std::string("\n") + kCompareNote + "\n";
  if (!cmp.ratings.empty()) out += "\nCodeforces ratings\n" + rating_comparison_table(cmp).plain() + rating_comparison_notes(cmp);
  return out;
}

std::string render_comparison(const RunComparison& cmp, ReportFormat format) {
  switch (format) {
    case ReportFormat::md: return comparison_md(cmp);
    case ReportFormat::csv: return comparison_csv(cmp);
    case ReportFormat::json: return comparison_json(cmp);
    case ReportFormat::html: break;
  }
  throw Error("field 'format': compare writes text, md, csv or json (the HTML report shows comparisons: "
              "`reval report --format html`)");
}

}  // namespace reval
