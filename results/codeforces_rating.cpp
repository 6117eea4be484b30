// Implementation of results/codeforces_rating.hpp (see the header for how the pieces fit, docs/ratings.md for the
// method and where our numbers may differ from CodeElo's).
#include "results/codeforces_rating.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "base/error.hpp"
#include "results/codeforces_standings.hpp"
#include "results/rating.hpp"

namespace reval {

namespace {

using Json = nlohmann::json;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

Json num(double v) { return std::isfinite(v) ? Json(v) : Json(nullptr); }

std::optional<std::int64_t> contest_of(const Json& md) {
  auto it = md.find("contest_id");
  if (it == md.end()) return std::nullopt;
  if (it->is_number_integer()) return it->get<std::int64_t>();
  if (it->is_string()) {
    const std::string& s = it->get_ref<const std::string&>();
    if (!s.empty() && s.size() < 18 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return std::stoll(s);
  }
  return std::nullopt;
}

std::optional<double> difficulty_of(const Json& md) {
  auto it = md.find("rating");
  if (it == md.end() || !it->is_number()) return std::nullopt;
  return it->get<double>();
}

// The run's problems of the task and each one's attempts (first `attempts` scored samples, by sample index).
struct RunOutcomes {
  std::map<std::string, Json> problems;                // problem id -> metadata
  std::map<std::string, ProblemAttempts> attempts;     // problems with at least one scored sample
  std::map<std::string, int> unscored;                 // problems with samples but none scored: how many samples
};

RunOutcomes load_outcomes(SampleStore& store, const RunInfo& run, const RatingOptions& o) {
  if (o.attempts < 1) throw Error(fmt::format("field 'attempts': {} is not >= 1", o.attempts));
  RunOutcomes out;
  out.problems = store.problem_metadata(run.id, o.task);
  if (out.problems.empty())
    throw Error(fmt::format("run '{}' has no problems of task '{}' to rate", run.name, o.task));
  std::map<std::string, int> samples;
  for (const auto& s : store.sample_summaries(run.id, o.task)) {  // ordered by problem, then sample index
    ++samples[s.key.problem_id];
    bool scored = s.error.empty() && s.grade && s.grade->result.verdict != Verdict::infra_error;
    if (!scored) continue;
    ProblemAttempts& a = out.attempts[s.key.problem_id];
    if (a.attempts >= o.attempts) continue;
    if (a.first_pass < 0 && s.grade->result.verdict == Verdict::correct) a.first_pass = a.attempts;
    ++a.attempts;
  }
  for (const auto& [id, n] : samples)
    if (!out.attempts.count(id)) out.unscored[id] = n;
  return out;
}

std::string data_dir_of(const RunInfo& run, const RatingOptions& o) {
  if (!o.data_dir.empty()) return o.data_dir;
  auto it = run.config.find("data_dir");
  return it != run.config.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string distribution_of(const std::string& data_dir, const RatingOptions& o) {
  if (!o.distribution.empty()) return o.distribution;
  if (data_dir.empty()) return {};
  return (std::filesystem::path(data_dir) / "codeforces" / "ratings" / "user_rating_histogram.json").string();
}

// Fills percentile and population; a missing or bad distribution becomes a note.
void add_percentile(RatingRecord& r, const std::string& path, const RatingOptions& o, Json& notes) {
  r.percentile = kNaN;
  if (!std::isfinite(r.rating)) return;
  if (path.empty()) {
    notes.push_back("no rating distribution: the run records no data dir; pass --distribution FILE");
    return;
  }
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    notes.push_back(fmt::format("no rating distribution at {}: percentile not computed", path));
    return;
  }
  try {
    RatingDistribution d = RatingDistribution::load(path, o.population);
    r.percentile = d.percentile(r.rating);
    r.population = d.population();
  } catch (const Error& e) {
    notes.push_back(std::string("percentile not computed: ") + e.what());
  }
}

std::vector<std::int64_t> run_contests(const RunOutcomes& ro) {
  std::set<std::int64_t> ids;
  for (const auto& [id, md] : ro.problems)
    if (auto c = contest_of(md)) ids.insert(*c);
  return {ids.begin(), ids.end()};
}

Json contest_json(const ContestStandings& c, const ContestPerformance& p) {
  Json problems = Json::array();
  for (const auto& ps : p.problems)
    problems.push_back({{"id", ps.id}, {"attempts", ps.attempts}, {"first_pass", ps.first_pass},
                        {"points", ps.points}, {"missing", ps.missing}});
  return {{"id", p.contest_id},
          {"name", p.name},
          {"scoring", to_string(p.scoring)},
          {"field", p.field},
          {"standings_rows", c.standings_rows},
          {"rating_changes", c.rating_changes},
          {"score", p.score},
          {"penalty", p.penalty},
          {"solved", p.solved},
          {"problems", problems},
          {"better", p.better},
          {"tied", p.tied},
          {"place", p.place},
          {"rating", p.rating},
          {"bounds", {p.lower_bound, p.upper_bound}},
          {"clamped", p.clamped}};
}

RatingRecord rate_by_standings(SampleStore& store, const RunInfo& run, const RatingOptions& o) {
  RunOutcomes ro = load_outcomes(store, run, o);
  std::string data_dir = data_dir_of(run, o);
  RatingRecord r;
  r.run_id = run.id;
  r.task = o.task;
  r.method = "standings";
  r.params = rating_params(r.method, o);
  Json used = Json::array(), skipped = Json::array(), notes = Json::array();
  std::vector<double> values;
  StandingsOptions so;
  so.min_field = o.min_field;
  so.missing_as_unsolved = o.missing_as_unsolved;
  auto contests = o.contests.empty() ? run_contests(ro) : o.contests;
  for (std::int64_t id : contests) {
    auto skip = [&](const std::string& why) { skipped.push_back({{"id", id}, {"reason", why}}); };
    if (data_dir.empty()) {
      skip("the run records no data dir (pass --data-dir)");
    } else if (!codeforces_contest_cached(data_dir, id)) {
      skip(fmt::format("no cached standings in {} (fetch them with `reval data fetch codeforces --contest {}`)",
                       codeforces_contest_dir(data_dir, id), id));
    } else {
      try {
        ContestStandings c = load_codeforces_contest(data_dir, id);
        ContestPerformance p = rate_contest(c, ro.attempts, so);
        values.push_back(p.rating);
        used.push_back(contest_json(c, p));
      } catch (const Error& e) {
        skip(e.what());
      }
    }
  }
  int clamped = 0, short_of_attempts = 0;
  for (const auto& c : used) {
    clamped += c["clamped"].get<int>() != 0 ? 1 : 0;
    for (const auto& p : c["problems"])
      if (!p["missing"].get<bool>() && p["first_pass"].get<int>() < 0 && p["attempts"].get<int>() < o.attempts)
        ++short_of_attempts;
  }
  if (clamped > 0)
    notes.push_back(fmt::format("{} contest rating{} lie{} at the search bound (placed ahead of or behind the whole "
                                "field); the mean includes them at the bound",
                                clamped, clamped == 1 ? "" : "s", clamped == 1 ? "s" : ""));
  if (short_of_attempts > 0)
    notes.push_back(fmt::format("{} unsolved problem{} had fewer than {} graded samples", short_of_attempts,
                                short_of_attempts == 1 ? "" : "s", o.attempts));
  r.used = static_cast<int>(values.size());
  r.skipped = static_cast<int>(skipped.size());
  double sd = kNaN;
  if (values.empty()) {
    r.rating = r.se = r.ci_lo = r.ci_hi = kNaN;
    notes.push_back("no contest could be rated");
  } else {
    BootstrapOptions b;
    b.resamples = o.bootstrap;
    b.seed = o.seed;
    b.confidence = o.confidence;
    Estimate e = estimate_mean(values, b);
    r.rating = e.mean;
    r.se = e.se;
    r.ci_lo = e.ci_lo;
    r.ci_hi = e.ci_hi;
    if (values.size() >= 2) {
      double ss = 0;
      for (double v : values) ss += (v - e.mean) * (v - e.mean);
      sd = std::sqrt(ss / static_cast<double>(values.size() - 1));
    }
  }
  std::string dist = distribution_of(data_dir, o);
  add_percentile(r, dist, o, notes);
  r.details = {{"contests", used}, {"skipped", skipped}, {"notes", notes}, {"sd", num(sd)},
               {"data_dir", data_dir}, {"distribution", dist}};
  if (!o.population.empty()) r.details["population_label"] = o.population;
  return r;
}

RatingRecord rate_by_problems(SampleStore& store, const RunInfo& run, const RatingOptions& o) {
  RunOutcomes ro = load_outcomes(store, run, o);
  std::string data_dir = data_dir_of(run, o);
  RatingRecord r;
  r.run_id = run.id;
  r.task = o.task;
  r.method = "problems";
  r.params = rating_params(r.method, o);
  Json used = Json::array(), skipped = Json::array(), notes = Json::array();
  std::vector<RatedProblem> rated;
  int short_of_attempts = 0;
  for (const auto& [id, md] : ro.problems) {
    auto d = difficulty_of(md);
    auto a = ro.attempts.find(id);
    if (!d) {
      skipped.push_back({{"id", id}, {"reason", "no difficulty rating in the problem package"}});
    } else if (a == ro.attempts.end()) {
      auto u = ro.unscored.find(id);
      skipped.push_back({{"id", id},
                         {"reason", u == ro.unscored.end()
                                        ? std::string("no samples")
                                        : fmt::format("none of its {} samples is graded (infra errors or ungraded)",
                                                      u->second)}});
    } else {
      rated.push_back(RatedProblem{id, *d, a->second.solved()});
      if (!a->second.solved() && a->second.attempts < o.attempts) ++short_of_attempts;
      used.push_back({{"id", id}, {"rating", *d}, {"attempts", a->second.attempts},
                      {"first_pass", a->second.first_pass}, {"solved", a->second.solved()}});
    }
  }
  if (short_of_attempts > 0)
    notes.push_back(fmt::format("{} unsolved problem{} had fewer than {} graded samples", short_of_attempts,
                                short_of_attempts == 1 ? "" : "s", o.attempts));
  r.used = static_cast<int>(rated.size());
  r.skipped = static_cast<int>(skipped.size());
  Json mle_json = nullptr;
  if (rated.empty()) {
    r.rating = r.se = r.ci_lo = r.ci_hi = kNaN;
    notes.push_back("no rated problem has a graded sample");
  } else {
    ProblemRatingOptions po;
    po.confidence = o.confidence;
    MleRating m = rating_from_problems(rated, po);
    r.rating = m.rating;
    r.se = m.se;
    r.ci_lo = m.ci_lo;
    r.ci_hi = m.ci_hi;
    mle_json = {{"solved", m.solved}, {"problems", m.problems}, {"censored", to_string(m.censored)},
                {"log_likelihood", m.log_likelihood}};
    if (m.censored == Censoring::all_solved)
      notes.push_back("every problem was solved: the likelihood has no maximum; the rating shown is the interval's "
                      "lower end");
    if (m.censored == Censoring::none_solved)
      notes.push_back("no problem was solved: the likelihood has no maximum; the rating shown is the interval's "
                      "upper end");
  }
  std::string dist = distribution_of(data_dir, o);
  add_percentile(r, dist, o, notes);
  r.details = {{"problems", used}, {"skipped", skipped}, {"notes", notes}, {"mle", mle_json},
               {"data_dir", data_dir}, {"distribution", dist}};
  if (!o.population.empty()) r.details["population_label"] = o.population;
  return r;
}

std::string censoring_of(const RatingRecord& r) {
  if (r.method != "problems" || !r.details.contains("mle") || !r.details["mle"].is_object()) return "none";
  return r.details["mle"].value("censored", "none");
}

std::string fmt_rating(double v) { return std::isfinite(v) ? fmt::format("{:.0f}", v) : "-"; }

// Aligned plain-text table (first row is the header).
std::string text_table(const std::vector<std::vector<std::string>>& rows, const std::vector<bool>& right) {
  auto width = [](const std::string& s) {
    size_t w = 0;
    for (unsigned char c : s) w += (c & 0xC0) != 0x80;
    return w;
  };
  std::vector<size_t> w;
  for (const auto& r : rows)
    for (size_t i = 0; i < r.size(); ++i) {
      if (w.size() <= i) w.push_back(0);
      w[i] = std::max(w[i], width(r[i]));
    }
  std::string out;
  for (size_t k = 0; k < rows.size(); ++k) {
    const auto& r = rows[k];
    std::string line;
    for (size_t i = 0; i < r.size(); ++i) {
      std::string pad(w[i] - width(r[i]), ' ');
      bool ra = i < right.size() && right[i];
      line += ra ? pad + r[i] : r[i] + (i + 1 < r.size() ? pad : "");
      if (i + 1 < r.size()) line += "  ";
    }
    out += line + "\n";
    if (k == 0) {
      size_t total = 0;
      for (size_t x : w) total += x + 2;
      out += std::string(total > 2 ? total - 2 : 0, '-') + "\n";
    }
  }
  return out;
}

}  // namespace

Json rating_params(const std::string& method, const RatingOptions& o) {
  if (method == "standings") {
    Json contests = o.contests.empty() ? Json("all") : Json(o.contests);
    return {{"attempts", o.attempts}, {"contests", contests}, {"min_field", o.min_field},
            {"missing_as_unsolved", o.missing_as_unsolved}, {"confidence", o.confidence}};
  }
  if (method == "problems") return {{"attempts", o.attempts}, {"confidence", o.confidence}};
  throw Error(fmt::format("field 'method': unknown rating method '{}' (known: standings, problems)", method));
}

RatingOptions rating_options_for(const RatingRecord& rec, RatingOptions o) {
  const Json& p = rec.params;
  o.task = rec.task;
  if (p.contains("attempts") && p["attempts"].is_number_integer()) o.attempts = p["attempts"].get<int>();
  if (p.contains("confidence") && p["confidence"].is_number()) o.confidence = p["confidence"].get<double>();
  if (p.contains("min_field") && p["min_field"].is_number_integer()) o.min_field = p["min_field"].get<int>();
  if (p.contains("missing_as_unsolved") && p["missing_as_unsolved"].is_boolean())
    o.missing_as_unsolved = p["missing_as_unsolved"].get<bool>();
  o.contests.clear();
  if (p.contains("contests") && p["contests"].is_array())
    for (const auto& c : p["contests"])
      if (c.is_number_integer()) o.contests.push_back(c.get<std::int64_t>());
  const Json& d = rec.details;
  if (o.data_dir.empty() && d.contains("data_dir") && d["data_dir"].is_string())
    o.data_dir = d["data_dir"].get<std::string>();
  if (o.distribution.empty() && d.contains("distribution") && d["distribution"].is_string())
    o.distribution = d["distribution"].get<std::string>();
  if (o.population.empty() && d.contains("population_label") && d["population_label"].is_string())
    o.population = d["population_label"].get<std::string>();
  return o;
}

std::string default_rating_method(SampleStore& store, const RunInfo& run, const RatingOptions& o) {
  std::string data_dir = data_dir_of(run, o);
  if (data_dir.empty()) return "problems";
  std::vector<std::int64_t> contests = o.contests;
  if (contests.empty()) {
    std::set<std::int64_t> ids;
    for (const auto& [id, md] : store.problem_metadata(run.id, o.task))
      if (auto c = contest_of(md)) ids.insert(*c);
    contests.assign(ids.begin(), ids.end());
  }
  for (auto id : contests)
    if (codeforces_contest_cached(data_dir, id)) return "standings";
  return "problems";
}

RatingRecord compute_rating(SampleStore& store, const RunInfo& run, const std::string& method,
                            const RatingOptions& options) {
  if (method == "standings") return rate_by_standings(store, run, options);
  if (method == "problems") return rate_by_problems(store, run, options);
  throw Error(fmt::format("field 'method': unknown rating method '{}' (known: standings, problems)", method));
}

std::vector<std::string> refresh_ratings(SampleStore& store, std::int64_t run_id, bool print_notes) noexcept {
  std::vector<std::string> notes;
  try {
    auto run = store.run_by_id(run_id);
    if (!run) return notes;
    RatingOptions base;
    auto problems = store.problem_metadata(run_id, base.task);
    if (problems.empty()) return notes;
    std::vector<std::pair<std::string, RatingOptions>> todo;
    for (const auto& stored : store.ratings(run_id, base.task))
      todo.emplace_back(stored.method, rating_options_for(stored, base));
    bool any_difficulty = std::any_of(problems.begin(), problems.end(),
                                      [](const auto& p) { return difficulty_of(p.second).has_value(); });
    if (any_difficulty) todo.emplace_back("problems", base);
    if (default_rating_method(store, *run, base) == "standings") todo.emplace_back("standings", base);
    std::set<std::string> done;
    for (const auto& [method, o] : todo) {
      try {
        if (!done.insert(method + rating_params(method, o).dump()).second) continue;
        store.put_rating(compute_rating(store, *run, method, o));
      } catch (const std::exception& e) {
        notes.push_back(fmt::format("run '{}': {} rating not updated: {}", run->name, method, e.what()));
      }
    }
  } catch (const std::exception& e) {
    notes.push_back(std::string("ratings not updated: ") + e.what());
  } catch (...) {
    notes.push_back("ratings not updated: unknown error");
  }
  if (print_notes)
    for (const auto& n : notes) std::fprintf(stderr, "reval: %s\n", n.c_str());
  return notes;
}

std::string format_rating_value(const RatingRecord& r) {
  if (!std::isfinite(r.rating)) return "-";
  std::string c = censoring_of(r);
  if (c == "all_solved") return "≥ " + fmt_rating(r.rating);
  if (c == "none_solved") return "≤ " + fmt_rating(r.rating);
  if (std::isfinite(r.se)) return fmt::format("{:.0f} ± {:.0f}", r.rating, r.se);
  return fmt_rating(r.rating);
}

std::string format_percentile(const RatingRecord& r) {
  if (!std::isfinite(r.percentile)) return "-";
  std::string c = censoring_of(r);
  std::string prefix = c == "all_solved" ? "≥ " : c == "none_solved" ? "≤ " : "";
  return fmt::format("{}{:.1f} % of {}", prefix, r.percentile, r.population);
}

std::string format_rating_breakdown(const RunInfo& run, const RatingRecord& r) {
  int attempts = r.params.value("attempts", 0);
  double conf = r.params.value("confidence", 0.95);
  std::string out = fmt::format("run {} ({}, model {}), task {}\n", run.id, run.name, run.model, r.task);
  const Json& d = r.details;
  if (r.method == "standings") {
    std::string contests = "all of the run's";
    if (r.params.contains("contests") && r.params["contests"].is_array()) {
      contests.clear();
      for (const auto& c : r.params["contests"]) contests.append(contests.empty() ? "" : ",").append(c.dump());
    }
    out += fmt::format("method: contest standings (CodeElo's method), first {} attempt{} per problem, contests {}\n\n",
                       attempts, attempts == 1 ? "" : "s", contests);
    std::vector<std::vector<std::string>> rows = {
        {"contest", "name", "scoring", "field", "solved", "score", "penalty", "place", "rating"}};
    for (const auto& c : d.value("contests", Json::array())) {
      int n = static_cast<int>(c["problems"].size());
      std::string rating = fmt_rating(c["rating"].get<double>());
      if (c.value("clamped", 0) > 0) rating = "≥ " + rating + " (bound)";
      if (c.value("clamped", 0) < 0) rating = "≤ " + rating + " (bound)";
      rows.push_back({std::to_string(c["id"].get<std::int64_t>()), c.value("name", ""), c.value("scoring", ""),
                      std::to_string(c.value("field", 0)), fmt::format("{}/{}", c.value("solved", 0), n),
                      fmt::format("{:g}", c.value("score", 0.0)), fmt::format("{:g}", c.value("penalty", 0.0)),
                      fmt::format("{:g}", c.value("place", 0.0)), rating});
    }
    if (rows.size() > 1) out += text_table(rows, {false, false, false, true, true, true, true, true, true});
    else out += "no contest rated\n";
  } else {
    out += fmt::format("method: maximum likelihood from problem ratings, first {} attempt{} per problem\n\n", attempts,
                       attempts == 1 ? "" : "s");
    std::vector<std::vector<std::string>> rows = {{"problem", "rating", "attempts", "solved at"}};
    for (const auto& p : d.value("problems", Json::array())) {
      int first = p.value("first_pass", -1);
      rows.push_back({p.value("id", ""), fmt::format("{:g}", p.value("rating", 0.0)),
                      std::to_string(p.value("attempts", 0)), first >= 0 ? fmt::format("#{}", first + 1) : "-"});
    }
    if (rows.size() > 1) out += text_table(rows, {false, true, true, true});
    else out += "no problem rated\n";
    if (d.contains("mle") && d["mle"].is_object())
      out += fmt::format("\nsolved {} of {} problems\n", d["mle"].value("solved", 0), d["mle"].value("problems", 0));
  }
  const Json skipped = d.value("skipped", Json::array());
  if (!skipped.empty()) {
    out += fmt::format("\nskipped ({}):\n", skipped.size());
    for (const auto& s : skipped) out += fmt::format("  {}: {}\n", s["id"].dump(), s.value("reason", ""));
  }
  std::string unit = r.method == "standings" ? "contests" : "problems";
  out += "\n";
  if (std::isfinite(r.rating)) {
    std::string spread;
    if (r.method == "standings")
      spread = std::isfinite(r.se)
                   ? fmt::format(" (± standard error over {} contests; sd {:.0f}; {:.0f}% bootstrap CI [{:.0f}, {:.0f}])",
                                 r.used, d.value("sd", Json()).is_number() ? d["sd"].get<double>() : kNaN,
                                 100 * conf, r.ci_lo, r.ci_hi)
                   : " (one contest: no spread)";
    else
      spread = fmt::format(" ({:.0f}% profile-likelihood CI [{}, {}])", 100 * conf,
                           std::isfinite(r.ci_lo) ? fmt_rating(r.ci_lo) : "-inf",
                           std::isfinite(r.ci_hi) ? fmt_rating(r.ci_hi) : "+inf");
    out += fmt::format("rating: {}{}\n", format_rating_value(r), spread);
  } else {
    out += "rating: - (nothing could be rated)\n";
  }
  out += fmt::format("percentile: {}\n", format_percentile(r));
  out += fmt::format("{} used: {}, skipped: {}\n", unit, r.used, r.skipped);
  for (const auto& n : d.value("notes", Json::array())) out += "note: " + n.get<std::string>() + "\n";
  return out;
}

std::vector<RatingRecord> report_ratings(const std::vector<RatingRecord>& stored) {
  std::map<std::pair<std::string, std::string>, RatingRecord> chosen;  // (task, method) -> record
  for (const auto& r : stored) {
    auto key = std::make_pair(r.task, r.method);
    bool is_default = false;
    try {
      is_default = r.params == rating_params(r.method, RatingOptions{});
    } catch (const Error&) {
      continue;  // a method this build does not know
    }
    auto it = chosen.find(key);
    if (it == chosen.end()) {
      chosen.emplace(key, r);
      continue;
    }
    bool cur_default = it->second.params == rating_params(r.method, RatingOptions{});
    if ((is_default && !cur_default) || (is_default == cur_default && r.computed_at > it->second.computed_at))
      it->second = r;
  }
  std::vector<RatingRecord> out;
  for (auto& [k, r] : chosen) out.push_back(std::move(r));
  return out;
}

}  // namespace reval
