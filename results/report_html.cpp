// Implementation of results/report_html.hpp.
//
// Theory of operation: everything that is a summary (leaderboard, per-task tables, pass@k charts, breakdowns,
// comparisons, ratings, provenance) is rendered here in C++ as static HTML and SVG, so the page reads without its
// script and the structural test can check it as text. The per-problem view is data: one JSON document in a
// <script type="application/json"> element (written by hand, not through nlohmann::json, because it holds a value
// per sample), and the inline script below draws the grid and a problem's samples from it on demand. The script also
// makes tables sortable and marks <body> when it has run.
#include "results/report_html.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include <fmt/format.h>

#include "base/error.hpp"
#include "results/report_internal.hpp"
#include "results/sample_export.hpp"
#include "reval/version.hpp"

namespace reval {

namespace {

using namespace report_detail;

constexpr const char* kPalette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

std::string attr_num(double v) { return finite(v) ? fmt::format("{:.6g}", v) : std::string(); }

// Background of a cell holding a rate in [0, 1]: red (0) to green (1).
std::string heat(double v) {
  if (!finite(v)) return "";
  return fmt::format(" style=\"background:hsl({:.0f},65%,86%)\"", 120.0 * std::clamp(v, 0.0, 1.0));
}

std::string anchor_id(const std::string& prefix, const std::string& s) {
  std::string out = prefix;
  for (char c : s) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') ? c : '_';
  return out;
}

const TaskSummary* find_row(const Leaderboard& b, std::int64_t run_id, const std::string& task) {
  for (const auto& r : b.rows)
    if (r.run_id == run_id && r.task == task) return &r;
  return nullptr;
}

// A text cut to `max_chars` characters: its first quarter and last three quarters around a note. Returns the head,
// the tail (empty when not cut) and the length in characters.
struct Cut {
  std::string head, tail;
  std::int64_t chars = 0;
};
Cut cut_text(const std::string& s, std::int64_t max_chars) {
  Cut c;
  std::vector<size_t> starts;  // byte offset of each character
  for (size_t i = 0; i < s.size(); ++i)
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) starts.push_back(i);
  c.chars = static_cast<std::int64_t>(starts.size());
  if (c.chars <= max_chars) {
    c.head = s;
    return c;
  }
  auto head = static_cast<size_t>(max_chars / 4), tail = static_cast<size_t>(max_chars - max_chars / 4);
  c.head = s.substr(0, starts[head]);
  c.tail = s.substr(starts[starts.size() - tail]);
  return c;
}

// ---- the pass@k chart ----

// pass@k against k for one task: one line per run with its bootstrap CI band. x: log2 k, y: 0..100 %. Empty when
// no run has k > 1.
std::string pass_at_k_svg(const Leaderboard& b, const std::string& task) {
  int max_k = 1;
  for (const auto& r : b.rows)
    if (r.task == task)
      for (const auto& p : r.metrics.pass_at) max_k = std::max(max_k, p.k);
  if (max_k <= 1) return "";
  const double W = 660, H = 300, L = 50, R = 190, T = 20, B = 40;
  const double pw = W - L - R, ph = H - T - B;
  double xmax = std::log2(static_cast<double>(max_k));
  auto X = [&](int k) { return L + pw * std::log2(static_cast<double>(k)) / xmax; };
  auto Y = [&](double v) { return T + ph * (1.0 - std::clamp(v, 0.0, 1.0)); };
  std::string s = fmt::format(
      "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{:.0f}\" height=\"{:.0f}\" "
      "viewBox=\"0 0 {:.0f} {:.0f}\" role=\"img\" aria-label=\"pass@k curves for {}\">\n",
      W, H, W, H, html_escape(task));
  s += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"#fff\" stroke=\"#999\"/>\n",
                   L, T, pw, ph);
  for (int g = 0; g <= 4; ++g) {
    double v = g / 4.0;
    s += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#e4e4e4\"/>"
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
  for (size_t ri = 0; ri < b.runs.size(); ++ri) {
    const auto& run = b.runs[ri];
    const TaskSummary* row = find_row(b, run.id, task);
    const char* color = kPalette[ri % std::size(kPalette)];
    if (!row || row->metrics.pass_at.empty()) continue;
    const auto& pk = row->metrics.pass_at;
    std::string band;
    for (const auto& p : pk) band += fmt::format("{:.1f},{:.1f} ", X(p.k), Y(p.ci_hi));
    for (auto it = pk.rbegin(); it != pk.rend(); ++it) band += fmt::format("{:.1f},{:.1f} ", X(it->k), Y(it->ci_lo));
    s += fmt::format("<polygon class=\"band\" fill=\"{}\" fill-opacity=\"0.15\" stroke=\"none\" points=\"{}\"/>\n",
                     color, band);
    std::string points;
    for (const auto& p : pk) points += fmt::format("{:.1f},{:.1f} ", X(p.k), Y(p.value));
    s += fmt::format("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\" points=\"{}\"/>\n", color, points);
    for (const auto& p : pk)
      s += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3\" fill=\"{}\"><title>{} pass@{} = {}% (CI {}–{}, "
                       "{} problems)</title></circle>\n",
                       X(p.k), Y(p.value), color, html_escape(run.name), p.k, pct(p.value), pct(p.ci_lo),
                       pct(p.ci_hi), p.problems);
    double ly = T + 10 + 18 * series;
    s += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"12\" height=\"12\" fill=\"{}\"/>"
                     "<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"12\">{}</text>\n",
                     L + pw + 12, ly - 10, color, L + pw + 30, ly, html_escape(run.name));
    ++series;
  }
  return s + "</svg>\n";
}

// ---- static sections ----

std::string rate_cell(double v, const std::string& text, const std::string& title = "") {
  return fmt::format("<td class=\"n\" data-v=\"{}\"{}{}>{}</td>", attr_num(v), heat(v),
                     title.empty() ? "" : " title=\"" + html_escape(title) + "\"", text);
}

std::string leaderboard_section(const Leaderboard& b) {
  std::string out = "<section id=\"leaderboard\"><h2>Leaderboard: pass@1 (%)</h2>\n";
  if (b.rows.empty()) return out + "<p>No samples.</p></section>\n";
  out += "<table id=\"leaderboard-table\" class=\"sortable\"><thead><tr><th>run</th>";
  for (const auto& t : b.tasks)
    out += fmt::format("<th><a href=\"#{}\">{}</a></th>", anchor_id("task-", t), html_escape(t));
  out += "</tr></thead><tbody>\n";
  for (const auto& run : b.runs) {
    out += "<tr><td>" + html_escape(run.name) + "</td>";
    for (const auto& t : b.tasks) {
      const TaskSummary* r = find_row(b, run.id, t);
      if (!r || r->metrics.problems == 0) {
        out += "<td class=\"n\" data-v=\"\">-</td>";
        continue;
      }
      const auto& m = r->metrics;
      std::string text = pct(m.pass1.mean) + (partial(m) ? " *" : "");
      if (m.pass1.n >= 2) text += fmt::format("<small>{}</small>", pct_ci(m.pass1));
      out += rate_cell(m.pass1.mean, text,
                       fmt::format("{} on {}: pass@1 {} (SE {}), {:.0f}% CI {}; {} problems, {} samples", run.name, t,
                                   pct(m.pass1.mean), pct(m.pass1.se), 100 * b.confidence, pct_ci(m.pass1), m.problems,
                                   m.samples));
    }
    out += "</tr>\n";
  }
  out += "</tbody></table>\n";
  out += fmt::format("<p class=\"note\">Cells: pass@1 and its {:.0f}% bootstrap interval over problems. Click a column "
                     "header to sort.{}</p>\n",
                     100 * b.confidence, any_partial(b) ? " * partial (see the note at the end)." : "");
  return out + "</section>\n";
}

std::string task_table(const Leaderboard& b, const std::string& task) {
  std::vector<int> ks;
  for (const auto& r : b.rows)
    if (r.task == task)
      for (const auto& p : r.metrics.pass_at)
        if (p.k > 1 && std::find(ks.begin(), ks.end(), p.k) == ks.end()) ks.push_back(p.k);
  std::sort(ks.begin(), ks.end());
  std::string out = "<table class=\"sortable task-table\"><thead><tr><th>run</th><th>problems</th><th>samples</th>"
                    "<th>pass@1 ± SE</th><th>" + fmt::format("{:.0f}% CI", 100 * b.confidence) + "</th>";
  for (int k : ks) out += fmt::format("<th>pass@{} [CI]</th>", k);
  out += "<th>cons@k</th><th>mean tokens</th><th>median tokens</th><th>truncated</th><th>infra errors</th>"
         "<th>ungraded</th></tr></thead><tbody>\n";
  for (const auto& run : b.runs) {
    const TaskSummary* r = find_row(b, run.id, task);
    if (!r) continue;
    const auto& m = r->metrics;
    out += "<tr><td>" + html_escape(run.name) + "</td>";
    out += fmt::format("<td class=\"n\" data-v=\"{}\">{}</td><td class=\"n\" data-v=\"{}\">{}</td>", m.problems,
                       m.problems, m.samples, m.samples);
    out += rate_cell(m.problems ? m.pass1.mean : NAN, html_escape(pct_se(m.pass1) + (partial(m) ? " *" : "")));
    out += fmt::format("<td class=\"n\" data-v=\"{}\">{}</td>", attr_num(m.pass1.ci_lo), pct_ci(m.pass1));
    for (int k : ks) {
      const PassAtK* p = find_k(*r, k);
      out += p ? rate_cell(p->value, html_escape(pass_k_cell(*p)), fmt::format("{} problems", p->problems))
               : "<td class=\"n\" data-v=\"\">-</td>";
    }
    if (m.cons)
      out += rate_cell(m.cons->value.mean, html_escape(cons_cell(*r)),
                       fmt::format("majority vote over the first {} samples; CI {}; {} with no answer", m.cons->k,
                                   pct_ci(m.cons->value), m.cons->no_votes));
    else
      out += std::string("<td class=\"n\" data-v=\"\" title=\"") +
             (r->voting ? "needs k >= 2" : "not defined for code: answers are programs") + "\">-</td>";
    out += fmt::format("<td class=\"n\" data-v=\"{}\">{}</td><td class=\"n\" data-v=\"{}\">{}</td>",
                       attr_num(r->mean_completion_tokens), tokens_cell(r->mean_completion_tokens),
                       attr_num(r->median_completion_tokens), tokens_cell(r->median_completion_tokens));
    out += fmt::format("<td class=\"n\" data-v=\"{}\" title=\"{} of {} generated samples hit the length limit\">{}%"
                       "</td>",
                       attr_num(r->truncated_share), r->truncated, r->generated, pct(r->truncated_share));
    out += fmt::format("<td class=\"n\" data-v=\"{}\">{}</td><td class=\"n\" data-v=\"{}\">{}</td></tr>\n",
                       m.infra_errors, m.infra_errors, m.ungraded, m.ungraded);
  }
  return out + "</tbody></table>\n";
}

std::string breakdown_html(const Leaderboard& b, const std::string& task) {
  std::string out;
  size_t i = 0;
  const auto& rows = b.breakdowns;
  while (i < rows.size()) {
    size_t j = i;
    while (j < rows.size() && rows[j].task == rows[i].task && rows[j].key == rows[i].key) ++j;
    if (rows[i].task != task) {
      i = j;
      continue;
    }
    std::vector<const RunInfo*> present;
    for (const auto& run : b.runs)
      for (size_t x = i; x < j; ++x)
        if (rows[x].run_id == run.id) {
          present.push_back(&run);
          break;
        }
    out += fmt::format("<h4>by {}</h4>\n<table class=\"sortable breakdown\" data-key=\"{}\"><thead><tr><th>{}</th>"
                       "<th>problems</th>",
                       html_escape(rows[i].key), html_escape(rows[i].key), html_escape(rows[i].key));
    for (const auto* run : present) out += "<th>" + html_escape(run->name) + "</th>";
    out += "</tr></thead><tbody>\n";
    size_t x = i;
    while (x < j) {
      size_t y = x;
      while (y < j && rows[y].group == rows[x].group) ++y;
      int problems = 0;
      for (size_t z = x; z < y; ++z) problems = std::max(problems, rows[z].metrics.problems_total);
      out += fmt::format("<tr><td>{}</td><td class=\"n\" data-v=\"{}\">{}</td>", html_escape(rows[x].group), problems,
                         problems);
      for (const auto* run : present) {
        const BreakdownRow* r = nullptr;
        for (size_t z = x; z < y; ++z)
          if (rows[z].run_id == run->id) r = &rows[z];
        if (!r || r->metrics.problems == 0) {
          out += "<td class=\"n\" data-v=\"\">-</td>";
          continue;
        }
        const auto& m = r->metrics;
        out += rate_cell(m.pass1.mean, pct(m.pass1.mean) + (partial(m) ? " *" : ""),
                         fmt::format("pass@1 {} ± {}, {:.0f}% CI {}, {} problems", pct(m.pass1.mean), pct(m.pass1.se),
                                     100 * b.confidence, pct_ci(m.pass1), m.problems));
      }
      out += "</tr>\n";
      x = y;
    }
    out += "</tbody></table>\n";
    i = j;
  }
  return out;
}

std::string tasks_section(const Leaderboard& b) {
  std::string out = "<section id=\"tasks\"><h2>Tasks</h2>\n";
  for (const auto& task : b.tasks) {
    out += fmt::format("<section class=\"task\" id=\"{}\"><h3>{}</h3>\n", anchor_id("task-", task), html_escape(task));
    std::string chart = pass_at_k_svg(b, task);
    if (!chart.empty())
      out += "<figure><figcaption>pass@k with " + fmt::format("{:.0f}", 100 * b.confidence) +
             "% bootstrap bands</figcaption>\n" + chart + "</figure>\n";
    else
      out += "<p class=\"note\">One sample per problem: no pass@k curve.</p>\n";
    out += task_table(b, task);
    std::string bd = breakdown_html(b, task);
    if (!bd.empty()) out += "<div class=\"breakdowns\">" + bd + "</div>\n";
    out += fmt::format("<p><a href=\"#problems\" data-task=\"{}\" class=\"to-problems\">Problems of {}</a></p>\n",
                       html_escape(task), html_escape(task));
    out += "</section>\n";
  }
  return out + "</section>\n";
}

std::string compare_section(const Leaderboard& b, const HtmlReportOptions& o) {
  if (b.runs.size() < 2) return "";
  size_t base = 0;
  if (!o.baseline.empty()) {
    auto it = std::find_if(b.runs.begin(), b.runs.end(), [&](const RunInfo& r) {
      return r.name == o.baseline || std::to_string(r.id) == o.baseline;
    });
    if (it == b.runs.end()) throw Error(fmt::format("field 'baseline': run '{}' is not in the report", o.baseline));
    base = static_cast<size_t>(it - b.runs.begin());
  }
  const RunInfo& baseline = b.runs[base];
  std::string rows;
  for (size_t ri = 0; ri < b.runs.size(); ++ri) {
    if (ri == base) continue;
    for (const auto& task : b.tasks) {
      const TaskSummary* a = find_row(b, b.runs[ri].id, task);
      const TaskSummary* z = find_row(b, baseline.id, task);
      if (!a || !z) continue;
      auto tc = compare_summaries(*a, *z, o.paired);
      if (!tc) continue;
      const auto& r = tc->result;
      bool significant = r.p_value < 1.0 - b.confidence;
      rows += fmt::format(
          "<tr><td>{}</td><td>{}</td><td class=\"n\" data-v=\"{}\">{}</td><td class=\"n\" data-v=\"{}\">{}</td>"
          "<td class=\"n\" data-v=\"{}\">{}</td><td class=\"n {}\" data-v=\"{}\">{}</td><td class=\"n\" "
          "data-v=\"{}\">{}</td><td class=\"n\" data-v=\"{}\">{}</td></tr>\n",
          html_escape(b.runs[ri].name), html_escape(task), r.problems, r.problems, attr_num(r.mean_a), pct(r.mean_a),
          attr_num(r.mean_b), pct(r.mean_b), significant ? (r.diff > 0 ? "up" : "down") : "", attr_num(r.diff),
          diff_cell(r), attr_num(r.ci_lo), diff_ci_cell(r), attr_num(r.p_value), html_escape(p_value_cell(r)));
    }
  }
  std::string out = "<section id=\"compare\"><h2>Comparisons with " + html_escape(baseline.name) + "</h2>\n";
  if (rows.empty()) return out + "<p>No task is scored by the baseline and another run.</p></section>\n";
  out += fmt::format("<table class=\"sortable\" id=\"compare-table\"><thead><tr><th>run</th><th>task</th>"
                     "<th>problems</th><th>run pass@1 %</th><th>{} pass@1 %</th><th>difference (pts)</th>"
                     "<th>{:.0f}% CI</th><th>p-value</th></tr></thead><tbody>\n",
                     html_escape(baseline.name), 100 * b.confidence);
  out += rows + "</tbody></table>\n";
  out += "<p class=\"note\">Paired over the problems both runs scored: difference of per-problem pass@1, paired "
         "percentile bootstrap interval, two-sided sign-flip permutation p-value (bold: p below " +
         fmt::format("{:.2g}", 1.0 - b.confidence) + "). `reval compare A B` gives the same numbers for one pair.</p>\n";
  return out + "</section>\n";
}

std::string ratings_section(const Leaderboard& b) {
  if (b.ratings.empty()) return "";
  TextTable rt = ratings_table(b);
  std::string out = "<section id=\"ratings\"><h2>Codeforces ratings</h2>\n<table class=\"sortable\"><thead><tr>";
  for (const auto& h : rt.header) out += "<th>" + html_escape(h) + "</th>";
  out += "</tr></thead><tbody>\n";
  for (const auto& row : rt.rows) {
    out += "<tr>";
    for (size_t i = 0; i < row.size(); ++i)
      out += std::string(i < rt.right.size() && rt.right[i] ? "<td class=\"n\">" : "<td>") + html_escape(row[i]) +
             "</td>";
    out += "</tr>\n";
  }
  return out + "</tbody></table>\n<p class=\"note\">" + html_escape(kRatingNote) + "</p></section>\n";
}

std::string runs_section(const Leaderboard& b) {
  std::string out = "<section id=\"runs\"><h2>Runs</h2>\n<table class=\"sortable\"><thead><tr><th>id</th><th>name</th>"
                    "<th>model</th><th>model hash</th><th>backend</th><th>engine</th><th>device</th><th>host</th>"
                    "<th>reval</th><th>preset</th><th>created</th></tr></thead><tbody>\n";
  for (const auto& r : b.runs) {
    out += fmt::format("<tr><td class=\"n\" data-v=\"{}\">{}</td>", r.id, r.id);
    for (const auto& c : {r.name, r.model, r.model_hash, r.backend, r.engine_version, r.device, r.host,
                          r.reval_version, r.preset, r.created_at})
      out += "<td>" + html_escape(c) + "</td>";
    out += "</tr>\n";
  }
  return out + "</tbody></table></section>\n";
}

// ---- the per-problem data ----

struct Snippet {
  int index = 0;
  std::string head, tail;
  std::int64_t chars = 0;
};

// Up to `limit` samples of a problem: first one of each verdict (in sample order), then the next ones.
std::vector<size_t> choose_samples(const ProblemDigest& d, int limit) {
  std::vector<size_t> out;
  std::string seen;
  auto up = [](char c) { return static_cast<char>(c >= 'a' ? c - 'a' + 'A' : c); };
  for (size_t i = 0; i < d.codes.size() && static_cast<int>(out.size()) < limit; ++i)
    if (seen.find(up(d.codes[i])) == std::string::npos) {
      seen += up(d.codes[i]);
      out.push_back(i);
    }
  for (size_t i = 0; i < d.codes.size() && static_cast<int>(out.size()) < limit; ++i)
    if (std::find(out.begin(), out.end(), i) == out.end()) out.push_back(i);
  std::sort(out.begin(), out.end());
  return out;
}

void json_str(std::string& out, std::string_view s) { append_json_string(out, s, true); }

template <class T>
void json_int_array(std::string& out, const std::vector<T>& v) {
  out += '[';
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(v[i]);
  }
  out += ']';
}

std::string problems_data(const Leaderboard& b, SampleStore* store, const HtmlReportOptions& o, std::string& note) {
  // Problems per task (union over runs, sorted) and where each digest sits.
  std::map<std::string, std::vector<std::string>> problems;
  for (const auto& t : b.tasks) problems[t];
  {
    std::map<std::string, std::set<std::string>> sets;
    for (const auto& d : b.digests) sets[d.task].insert(d.problem_id);
    for (auto& [t, s] : sets) problems[t].assign(s.begin(), s.end());
  }
  std::map<std::int64_t, size_t> run_index;
  for (size_t i = 0; i < b.runs.size(); ++i) run_index[b.runs[i].id] = i;

  // Completions: choose, size to the budget, fetch.
  std::vector<std::vector<Snippet>> snippets(b.digests.size());
  std::vector<std::vector<size_t>> chosen(b.digests.size());
  std::int64_t total = 0;
  if (store && o.completions > 0)
    for (size_t i = 0; i < b.digests.size(); ++i) {
      chosen[i] = choose_samples(b.digests[i], o.completions);
      total += static_cast<std::int64_t>(chosen[i].size());
    }
  std::int64_t per = total ? std::min(o.completion_chars, o.text_budget / total) : 0;
  if (!store) {
    note = "Completions and prompts are not embedded in this page.";
  } else if (o.completions <= 0) {
    note = "Completions are not embedded (--html-completions 0).";
  } else if (total > 0 && per < o.min_completion_chars) {
    note = fmt::format("Completions are not embedded: {} of them would get fewer than {} characters each within the "
                       "page's text budget of {} characters (--html-max-text). Use the `reval samples` command shown "
                       "with each problem, or fewer runs or tasks per page.",
                       total, o.min_completion_chars, o.text_budget);
    per = 0;
  } else if (total > 0) {
    note = fmt::format("Up to {} completion{} per problem and run are embedded (one per verdict first), each cut to "
                       "{} characters (its first quarter and last three quarters). The full text: the `reval "
                       "samples` command shown with each problem.",
                       o.completions, o.completions == 1 ? "" : "s", per);
  }
  if (store && per > 0) {
    for (size_t i = 0; i < b.digests.size(); ++i) {
      const auto& d = b.digests[i];
      for (size_t pos : chosen[i]) {
        SampleQuery q;
        q.task = d.task;
        q.problem_id = d.problem_id;
        q.sample_index = d.indexes[pos];
        q.with_problem = false;
        q.head_chars = per / 4;
        q.tail_chars = per - per / 4;
        store->for_each_sample(d.run_id, q, [&](const SampleDetail& s) {
          Snippet sn;
          sn.index = s.sample.key.sample_index;
          sn.chars = s.completion_chars;
          sn.head = s.sample.completion;
          if (!s.sample.error.empty() && sn.head.empty()) sn.head = "(generation failed: " + s.sample.error + ")";
          if (s.completion_cut) sn.tail = s.completion_tail;
          snippets[i].push_back(std::move(sn));
        });
      }
    }
  }

  std::string out = "{\"db\":";
  json_str(out, o.db_path.empty() ? std::string("reval.db") : o.db_path);
  out += ",\"runs\":[";
  for (size_t i = 0; i < b.runs.size(); ++i) {
    if (i) out += ',';
    out += "{\"id\":" + std::to_string(b.runs[i].id) + ",\"name\":";
    json_str(out, b.runs[i].name);
    out += '}';
  }
  out += "],\"tasks\":[";
  bool first_task = true;
  for (const auto& [task, ids] : problems) {
    if (ids.empty()) continue;
    if (!first_task) out += ',';
    first_task = false;
    std::map<std::string, size_t> pindex;
    for (size_t i = 0; i < ids.size(); ++i) pindex[ids[i]] = i;
    bool voting = true;
    for (const auto& r : b.rows)
      if (r.task == task && !r.voting) voting = false;
    out += "{\"name\":";
    json_str(out, task);
    out += std::string(",\"voting\":") + (voting ? "true" : "false") + ",\"problems\":[";
    for (size_t i = 0; i < ids.size(); ++i) {
      if (i) out += ',';
      json_str(out, ids[i]);
    }
    out += ']';
    // Prompts and gold from the first run that stored each problem.
    if (store) {
      std::vector<std::string> prompt(ids.size()), gold(ids.size());
      std::vector<bool> have(ids.size(), false);
      size_t missing = ids.size();
      for (const auto& run : b.runs) {
        if (!missing) break;
        if (!find_row(b, run.id, task)) continue;
        for (const auto& p : store->problem_texts(run.id, task)) {
          auto it = pindex.find(p.problem_id);
          if (it == pindex.end() || have[it->second]) continue;
          Cut c = cut_text(p.prompt, o.prompt_chars);
          prompt[it->second] =
              c.tail.empty() ? c.head
                             : c.head + fmt::format("\n[... {} characters left out ...]\n", c.chars - o.prompt_chars) +
                                   c.tail;
          gold[it->second] = p.gold.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
          have[it->second] = true;
          --missing;
        }
      }
      out += ",\"prompt\":[";
      for (size_t i = 0; i < ids.size(); ++i) {
        if (i) out += ',';
        if (have[i]) json_str(out, prompt[i]);
        else out += "null";
      }
      out += "],\"gold\":[";
      for (size_t i = 0; i < ids.size(); ++i) {
        if (i) out += ',';
        if (have[i]) json_str(out, gold[i]);
        else out += "null";
      }
      out += ']';
    }
    // Per run: arrays aligned with `problems` (null where the run has no sample of the problem).
    out += ",\"runs\":[";
    bool first_run = true;
    for (size_t ri = 0; ri < b.runs.size(); ++ri) {
      std::vector<const ProblemDigest*> at(ids.size(), nullptr);
      std::vector<size_t> digest_pos(ids.size(), 0);
      bool any = false;
      for (size_t di = 0; di < b.digests.size(); ++di) {
        const auto& d = b.digests[di];
        if (d.run_id != b.runs[ri].id || d.task != task) continue;
        size_t pi = pindex[d.problem_id];
        at[pi] = &d;
        digest_pos[pi] = di;
        any = true;
      }
      if (!any) continue;
      if (!first_run) out += ',';
      first_run = false;
      out += "{\"run\":" + std::to_string(ri);
      auto field = [&](const char* name, auto&& write) {
        out += ",\"";
        out += name;
        out += "\":[";
        for (size_t pi = 0; pi < ids.size(); ++pi) {
          if (pi) out += ',';
          if (!at[pi]) out += "null";
          else write(*at[pi], digest_pos[pi]);
        }
        out += ']';
      };
      field("c", [&](const ProblemDigest& d, size_t) { json_str(out, d.codes); });
      field("k", [&](const ProblemDigest& d, size_t) { json_int_array(out, d.tokens); });
      field("i", [&](const ProblemDigest& d, size_t) {
        bool plain = true;
        for (size_t j = 0; j < d.indexes.size(); ++j) plain = plain && d.indexes[j] == static_cast<int>(j);
        if (plain) out += "null";
        else json_int_array(out, d.indexes);
      });
      if (voting) {
        field("a", [&](const ProblemDigest& d, size_t) {
          out += '[';
          for (size_t j = 0; j < d.answers.size(); ++j) {
            if (j) out += ',';
            json_str(out, d.answers[j]);
          }
          out += ']';
        });
        field("v", [&](const ProblemDigest& d, size_t) { json_int_array(out, d.answer_of); });
      }
      if (per > 0)
        field("s", [&](const ProblemDigest&, size_t di) {
          out += '[';
          bool first = true;
          for (const auto& sn : snippets[di]) {
            if (!first) out += ',';
            first = false;
            out += '[' + std::to_string(sn.index) + ',';
            json_str(out, sn.head);
            out += ',';
            json_str(out, sn.tail);
            out += ',' + std::to_string(sn.chars) + ']';
          }
          out += ']';
        });
      out += '}';
    }
    out += "]}";
  }
  out += "],\"note\":";
  json_str(out, note);
  out += '}';
  return out;
}

constexpr const char* kStyle = R"css(
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d1d1f;background:#fafafa}
header{position:sticky;top:0;background:#fff;border-bottom:1px solid #ddd;padding:.5em 2em;z-index:2}
header h1{display:inline;font-size:1.2em;margin-right:1.5em}header nav a{margin-right:1em}
main{padding:0 2em 3em}section{margin-top:1.5em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;margin:.6em 0;background:#fff;font-size:.92em}
th,td{border:1px solid #d5d5d5;padding:3px 7px;vertical-align:top}th{background:#f0f0f0;position:relative}
th.sort{cursor:pointer}th[data-dir=desc]::after{content:" ▼"}th[data-dir=asc]::after{content:" ▲"}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}td small{color:#555;margin-left:.4em}
td.up{font-weight:700;color:#0a6b12}td.down{font-weight:700;color:#a01212}
figure{margin:.5em 0}figcaption{font-size:.9em;color:#444}.note{color:#555;font-size:.9em;max-width:70em}
.breakdowns{display:flex;flex-wrap:wrap;gap:0 2em}.breakdowns h4{margin:.6em 0 0}
#pv-controls{display:flex;gap:1em;align-items:center;flex-wrap:wrap}
#problem-grid td.cell{min-width:3.2em;text-align:center;cursor:pointer}#problem-grid td.pid{max-width:28em;word-break:break-all}
#problem-detail{margin-top:1em;background:#fff;border:1px solid #ccc;padding:.5em 1em}
.run-block{border-top:1px solid #e3e3e3;margin-top:.6em}.run-block h4{margin:.5em 0 .3em}
.chip{display:inline-block;min-width:1.3em;text-align:center;margin:1px;padding:0 3px;border-radius:3px;font:12px monospace}
.chip.trunc{text-decoration:underline wavy}.v-C{background:#bfe8c3}.v-W{background:#f4c2c2}.v-N{background:#f3dfb5}
.v-E,.v-R,.v-T,.v-M,.v-O{background:#e7cdf0}.v-I{background:#d0d0d0}.v-U{background:#eee}
pre{white-space:pre-wrap;word-break:break-word;background:#f6f6f6;padding:.5em;max-height:40em;overflow:auto;font-size:12.5px}
mark{background:#ffe066;font-weight:700}.cut{color:#a0a0a0;font-style:italic}code{font-size:.92em}
details summary{cursor:pointer}#reval-errors{background:#fdd;border:1px solid #a00;padding:.5em}
)css";

// The page script: sortable tables, the problem grid and a problem's samples, drawn from #reval-data.
constexpr const char* kScript = R"js(
(() => {
  'use strict';
  const body = document.body;
  const errors = [];
  const markErrors = () => {
    body.setAttribute('data-reval-errors', String(errors.length));
    const box = document.getElementById('reval-errors');
    if (box && errors.length) { box.textContent = 'Script error: ' + errors.join('; '); box.hidden = false; }
  };
  window.addEventListener('error', (e) => { errors.push(String(e.message || e.error || e)); markErrors(); });

  const el = (tag, attrs, ...kids) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'text') e.textContent = v; else if (k === 'class') e.className = v; else e.setAttribute(k, v);
    }
    for (const k of kids) if (k !== null && k !== undefined) e.append(k);
    return e;
  };

  // Sortable tables: numbers from data-v (empty sorts last), else the text.
  const sortKey = (td) => {
    if (!td) return '';
    const v = td.getAttribute('data-v');
    if (v !== null) return v === '' ? -Infinity : parseFloat(v);
    return td.textContent.trim().toLowerCase();
  };
  const makeSortable = (table) => {
    const head = table.tHead;
    if (!head || !table.tBodies.length) return;
    const cells = Array.from(head.rows[head.rows.length - 1].cells);
    cells.forEach((th, col) => {
      th.classList.add('sort');
      th.addEventListener('click', () => {
        const desc = th.getAttribute('data-dir') !== 'desc';
        cells.forEach((c) => c.removeAttribute('data-dir'));
        th.setAttribute('data-dir', desc ? 'desc' : 'asc');
        const tbody = table.tBodies[0];
        const rows = Array.from(tbody.rows);
        rows.sort((a, b) => {
          const x = sortKey(a.cells[col]), y = sortKey(b.cells[col]);
          const c = x < y ? -1 : x > y ? 1 : 0;
          return desc ? -c : c;
        });
        tbody.append(...rows);
      });
    });
  };
  document.querySelectorAll('table.sortable').forEach(makeSortable);

  // The per-problem view.
  const D = JSON.parse(document.getElementById('reval-data').textContent);
  const VERDICT = {C: 'correct', W: 'wrong', N: 'no answer', E: 'compile error', R: 'runtime error', T: 'time limit',
                   M: 'memory limit', O: 'output limit', I: 'infra error', U: 'ungraded'};
  const taskSel = document.getElementById('pv-task'), filterSel = document.getElementById('pv-filter');
  const search = document.getElementById('pv-search'), grid = document.getElementById('problem-grid');
  const detail = document.getElementById('problem-detail'), more = document.getElementById('pv-more');
  const count = document.getElementById('pv-count');
  document.getElementById('pv-note').textContent = D.note || '';
  let limit = 300;

  const tally = (codes) => {
    let n = 0, c = 0;
    for (const ch of codes) {
      const u = ch.toUpperCase();
      if (u !== 'I' && u !== 'U') { n++; if (u === 'C') c++; }
    }
    return [c, n];
  };
  const heat = (v) => `hsl(${Math.round(120 * v)},65%,86%)`;
  const problemHash = (t, id) => '#problem=' + encodeURIComponent(t.name) + '/' + encodeURIComponent(id);

  D.tasks.forEach((t, i) => taskSel.append(el('option', {value: String(i), text: `${t.name} (${t.problems.length})`})));

  const renderGrid = () => {
    grid.replaceChildren();
    const t = D.tasks[Number(taskSel.value)];
    if (!t) { count.textContent = 'no per-problem data'; more.hidden = true; return; }
    const head = el('tr', {}, el('th', {text: 'problem'}), el('th', {text: 'solved by'}));
    for (const r of t.runs) head.append(el('th', {text: D.runs[r.run].name}));
    grid.append(el('thead', {}, head));
    const tbody = el('tbody');
    const q = search.value.trim().toLowerCase(), mode = filterSel.value;
    let shown = 0, matching = 0;
    t.problems.forEach((id, pi) => {
      if (q && !id.toLowerCase().includes(q)) return;
      const per = t.runs.map((r) => (r.c[pi] === null ? null : tally(r.c[pi])));
      const scored = per.filter((x) => x && x[1] > 0);
      const solved = scored.filter((x) => x[0] > 0).length;
      if (mode === 'disagree' && !(solved > 0 && solved < scored.length)) return;
      if (mode === 'unsolved' && solved > 0) return;
      if (mode === 'solved' && (scored.length === 0 || solved < scored.length)) return;
      if (mode === 'flaky' && !scored.some((x) => x[0] > 0 && x[0] < x[1])) return;
      matching++;
      if (shown >= limit) return;
      shown++;
      const row = el('tr', {'data-p': String(pi)},
                     el('td', {class: 'pid'}, el('a', {href: problemHash(t, id), text: id})),
                     el('td', {class: 'n', text: `${solved}/${scored.length}`}));
      per.forEach((x) => {
        if (!x || x[1] === 0) { row.append(el('td', {class: 'cell', text: x ? '0/0' : ''})); return; }
        const cell = el('td', {class: 'cell', text: `${x[0]}/${x[1]}`});
        cell.style.background = heat(x[0] / x[1]);
        row.append(cell);
      });
      row.addEventListener('click', (e) => {
        if (e.target.tagName !== 'A') location.hash = problemHash(t, id);
      });
      tbody.append(row);
    });
    grid.append(tbody);
    count.textContent = `${matching} problem${matching === 1 ? '' : 's'}` + (matching > shown ? `, first ${shown} shown` : '');
    more.hidden = matching <= shown;
  };

  // Marks the final answer in a completion: the last \boxed{...}, else the last occurrence of the extracted answer.
  const withAnswer = (text, answer) => {
    let start = -1, end = -1;
    const b = text.lastIndexOf('\\boxed{');
    if (b >= 0) {
      let depth = 0;
      for (let i = b + 6; i < text.length; i++) {
        if (text[i] === '{') depth++;
        else if (text[i] === '}' && --depth === 0) { start = b; end = i + 1; break; }
      }
    }
    if (start < 0 && answer) {
      const a = text.lastIndexOf(answer);
      if (a >= 0) { start = a; end = a + answer.length; }
    }
    if (start < 0) return [text];
    return [text.slice(0, start), el('mark', {text: text.slice(start, end)}), text.slice(end)];
  };

  const showProblem = (ti, pi) => {
    const t = D.tasks[ti], id = t.problems[pi];
    detail.hidden = false;
    detail.replaceChildren(el('h3', {text: `${t.name} / ${id}`}));
    detail.append(el('p', {class: 'note'}, 'Full text of every sample: ',
                     el('code', {text: `reval samples --db ${D.db} --run RUN --task ${t.name} --problem '${id}'`})));
    if (t.prompt && t.prompt[pi] !== null)
      detail.append(el('details', {}, el('summary', {text: 'Prompt (the user turn as the model saw it)'}),
                       el('pre', {text: t.prompt[pi]})));
    if (t.gold && t.gold[pi] !== null) {
      let gold;
      try { gold = JSON.parse(t.gold[pi]); } catch (e) { gold = [t.gold[pi]]; }
      if (Array.isArray(gold) && gold.length) {
        const line = el('p', {}, 'Gold: ');
        gold.forEach((g, i) => {
          if (i) line.append(' | ');
          line.append(el('code', {class: 'gold', text: typeof g === 'string' ? g : JSON.stringify(g)}));
        });
        detail.append(line);
      }
    }
    for (const r of t.runs) {
      const codes = r.c[pi];
      if (codes === null) continue;
      const [c, n] = tally(codes);
      const block = el('div', {class: 'run-block', 'data-run': D.runs[r.run].name},
                       el('h4', {text: `${D.runs[r.run].name}: ${c}/${n} correct` + (n ? ` (${(100 * c / n).toFixed(1)}%)` : '')}));
      const answerOf = (j) => (r.v && r.v[pi] && r.v[pi][j] >= 0 ? r.a[pi][r.v[pi][j]] : null);
      const indexOf = (j) => (r.i && r.i[pi] ? r.i[pi][j] : j);
      const chips = el('div', {class: 'chips'});
      for (let j = 0; j < codes.length; j++) {
        const u = codes[j].toUpperCase(), trunc = codes[j] !== u, tok = r.k[pi][j], ans = answerOf(j);
        chips.append(el('span', {class: 'chip v-' + u + (trunc ? ' trunc' : ''),
                                 title: `sample ${indexOf(j)}: ${VERDICT[u]}` + (trunc ? ', stopped at the length limit' : '') +
                                        (tok >= 0 ? `, ${tok} tokens` : '') + (ans !== null ? `, answer ${ans}` : ''),
                                 text: u}));
      }
      block.append(chips);
      if (r.a && r.a[pi] && r.a[pi].length) {
        const votes = r.a[pi].map((a, k) => ({a, k, n: 0, ok: false, first: Infinity}));
        r.v[pi].forEach((k, j) => {
          if (k < 0) return;
          votes[k].n++;
          votes[k].first = Math.min(votes[k].first, j);
          if (codes[j].toUpperCase() === 'C') votes[k].ok = true;
        });
        votes.sort((x, y) => y.n - x.n || x.first - y.first);
        const table = el('table', {class: 'answers'},
                         el('thead', {}, el('tr', {}, el('th', {text: 'extracted answer'}), el('th', {text: 'votes'}),
                                            el('th', {text: 'verdict'}))));
        const tb = el('tbody');
        votes.slice(0, 12).forEach((v, x) => tb.append(el('tr', {class: x === 0 ? 'majority' : ''},
            el('td', {}, el('mark', {text: v.a})), el('td', {class: 'n', text: String(v.n)}),
            el('td', {class: v.ok ? 'v-C' : 'v-W', text: v.ok ? 'correct' : 'wrong'}))));
        table.append(tb);
        block.append(table);
        if (votes.length > 12) block.append(el('p', {class: 'note', text: `${votes.length - 12} more distinct answers`}));
      }
      if (r.s && r.s[pi]) {
        for (const [idx, head, tail, chars] of r.s[pi]) {
          const j = r.i && r.i[pi] ? r.i[pi].indexOf(idx) : idx;
          const u = j >= 0 && j < codes.length ? codes[j].toUpperCase() : 'U';
          const ans = j >= 0 ? answerOf(j) : null;
          const tok = j >= 0 ? r.k[pi][j] : -1;
          const summary = el('summary', {}, `sample ${idx} `, el('span', {class: 'chip v-' + u, text: VERDICT[u]}),
                             ans !== null ? ' answer ' : '', ans !== null ? el('mark', {text: ans}) : null,
                             tok >= 0 ? ` · ${tok} tokens` : '', codes[j] !== u ? ' · truncated' : '',
                             ` · ${chars} characters`);
          const pre = el('pre', {class: 'completion'});
          if (tail) {
            pre.append(head, el('span', {class: 'cut', text: `\n[… ${chars - [...head].length - [...tail].length} characters left out …]\n`}));
            pre.append(...withAnswer(tail, ans));
          } else {
            pre.append(...withAnswer(head, ans));
          }
          block.append(el('details', {class: 'sample'}, summary, pre));
        }
      }
      detail.append(block);
    }
  };

  const fromHash = () => {
    const m = /^#problem=([^/]*)\/(.*)$/.exec(location.hash);
    if (!m) return;
    const task = decodeURIComponent(m[1]), id = decodeURIComponent(m[2]);
    const ti = D.tasks.findIndex((t) => t.name === task);
    if (ti < 0) return;
    const pi = D.tasks[ti].problems.indexOf(id);
    if (pi < 0) return;
    if (taskSel.value !== String(ti)) { taskSel.value = String(ti); renderGrid(); }
    showProblem(ti, pi);
  };

  taskSel.addEventListener('change', () => { limit = 300; renderGrid(); });
  filterSel.addEventListener('change', () => { limit = 300; renderGrid(); });
  search.addEventListener('input', () => { limit = 300; renderGrid(); });
  more.addEventListener('click', () => { limit += 1000; renderGrid(); });
  document.querySelectorAll('a.to-problems').forEach((a) => a.addEventListener('click', () => {
    const ti = D.tasks.findIndex((t) => t.name === a.getAttribute('data-task'));
    if (ti >= 0) { taskSel.value = String(ti); limit = 300; renderGrid(); }
  }));
  window.addEventListener('hashchange', fromHash);
  renderGrid();
  fromHash();
  markErrors();
  // Milliseconds from navigation start until the page is drawn (bench/results/report_bench.sh reads it).
  body.setAttribute('data-reval-ms', String(Math.round(performance.now())));
  body.setAttribute('data-reval-ready', '1');
})();
)js";

std::string problems_section() {
  return "<section id=\"problems\"><h2>Problems</h2>\n"
         "<div id=\"pv-controls\"><label>task <select id=\"pv-task\"></select></label>"
         "<label>show <select id=\"pv-filter\"><option value=\"all\">all problems</option>"
         "<option value=\"disagree\">solved by some runs, not all</option>"
         "<option value=\"unsolved\">solved by no run</option><option value=\"solved\">solved by every run</option>"
         "<option value=\"flaky\">solved on some samples only</option></select></label>"
         "<label>id contains <input id=\"pv-search\" type=\"search\"></label><span id=\"pv-count\"></span></div>\n"
         "<p class=\"note\">Cells: correct / scored samples of the problem in each run. Click a problem for its "
         "samples. <span id=\"pv-note\"></span></p>\n"
         "<table id=\"problem-grid\"></table><button id=\"pv-more\" hidden>show more</button>\n"
         "<div id=\"problem-detail\" hidden></div></section>\n";
}

}  // namespace

std::string render_html_report(const Leaderboard& b, SampleStore* store, const HtmlReportOptions& o) {
  if (o.completions < 0 || o.completion_chars < 0 || o.text_budget < 0 || o.prompt_chars < 1)
    throw Error("HTML report: completions, completion_chars, text_budget must be >= 0 and prompt_chars >= 1");
  std::string note;
  std::string data = problems_data(b, store, o, note);
  std::string out = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                    "<title>reval report</title>\n<style>" +
                    std::string(kStyle) + "</style>\n</head>\n<body data-reval-ready=\"0\" data-reval-errors=\"0\">\n";
  out += "<header><h1>reval report</h1><nav><a href=\"#leaderboard\">Leaderboard</a><a href=\"#tasks\">Tasks</a>";
  if (b.runs.size() >= 2) out += "<a href=\"#compare\">Comparisons</a>";
  if (!b.ratings.empty()) out += "<a href=\"#ratings\">Ratings</a>";
  out += "<a href=\"#problems\">Problems</a><a href=\"#runs\">Runs</a></nav></header>\n<main>\n";
  out += "<p id=\"reval-errors\" hidden></p>\n";
  out += leaderboard_section(b);
  out += tasks_section(b);
  out += compare_section(b, o);
  out += ratings_section(b);
  out += problems_section();
  out += runs_section(b);
  out += "<section id=\"notes\"><h2>Notes</h2>\n<p class=\"note\">" + html_escape(kMethodNote) + "</p>\n";
  if (any_partial(b)) out += "<p class=\"note\">" + html_escape(kPartialNote) + "</p>\n";
  out += fmt::format("<p class=\"note\">Generated by reval {}.</p></section>\n</main>\n", html_escape(kVersion));
  out += "<script type=\"application/json\" id=\"reval-data\">" + data + "</script>\n";
  out += std::string("<script>") + kScript + "</script>\n</body>\n</html>\n";
  return out;
}

}  // namespace reval
