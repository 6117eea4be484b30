// Implementation of results/rating.hpp. Every root is found by bisection on a monotone function (the expected
// place decreases in r; the expected number of solves and the log-likelihood ratio are monotone on each side of
// the MLE), so the results are deterministic and need no derivatives. Equal opponent ratings are grouped, which
// turns a field of tens of thousands into a few thousand distinct values.
#include "results/rating.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/error.hpp"
#include "base/jsonl.hpp"

namespace reval {

namespace {

constexpr double kLn10Over400 = 2.302585092994045684 / 400.0;
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kScoreEps = 1e-9;  // points are exact multiples of 0.5 or whole numbers; compare with slack

// log(1 + e^x) without overflow.
double softplus(double x) { return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)); }

// (rating, count) pairs: the field with equal ratings merged.
std::vector<std::pair<double, double>> group(const std::vector<double>& ratings) {
  std::map<double, double> m;
  for (double r : ratings) m[r] += 1.0;
  return {m.begin(), m.end()};
}

double expected_place_grouped(double r, const std::vector<std::pair<double, double>>& field) {
  double s = 1.0;
  for (const auto& [old, n] : field) s += n * elo_win_probability(old, r);
  return s;
}

PlaceSolution solve_place(double place, const std::vector<std::pair<double, double>>& field, double lo, double hi) {
  if (!(lo <= hi)) throw Error(fmt::format("rating search: empty interval [{}, {}]", lo, hi));
  // expected_place decreases in r: a place better (smaller) than expected at hi cannot be reached.
  if (expected_place_grouped(hi, field) > place) return {hi, +1};
  if (expected_place_grouped(lo, field) < place) return {lo, -1};
  for (int i = 0; i < 200 && hi - lo > 1e-7; ++i) {
    double mid = 0.5 * (lo + hi);
    if (expected_place_grouped(mid, field) > place) lo = mid;
    else hi = mid;
  }
  return {0.5 * (lo + hi), 0};
}

// Root of a function that is increasing on [lo, hi] (f(lo) <= 0 <= f(hi)), by bisection to `tol`.
template <typename F>
double bisect_increasing(F&& f, double lo, double hi, double tol = 1e-7) {
  for (int i = 0; i < 200 && hi - lo > tol; ++i) {
    double mid = 0.5 * (lo + hi);
    if (f(mid) < 0) lo = mid;
    else hi = mid;
  }
  return 0.5 * (lo + hi);
}

}  // namespace

std::string thousands(std::int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

double elo_win_probability(double r, double opponent) { return 1.0 / (1.0 + std::pow(10.0, (opponent - r) / 400.0)); }

const char* to_string(ContestScoring s) { return s == ContestScoring::points ? "points" : "icpc"; }

const char* to_string(Censoring c) {
  switch (c) {
    case Censoring::none: return "none";
    case Censoring::all_solved: return "all_solved";
    case Censoring::none_solved: return "none_solved";
  }
  return "?";
}

double expected_place(double r, const std::vector<double>& old_ratings) {
  return expected_place_grouped(r, group(old_ratings));
}

PlaceSolution rating_for_place(double place, const std::vector<double>& old_ratings, double lo, double hi) {
  return solve_place(place, group(old_ratings), lo, hi);
}

ContestPerformance rate_contest(const ContestStandings& c, const std::map<std::string, ProblemAttempts>& outcomes,
                                const StandingsOptions& o) {
  if (c.field.empty())
    throw Error(fmt::format("contest {}: no participant appears in both the standings and the rating changes", c.id));
  if (static_cast<int>(c.field.size()) <= o.min_field)
    throw Error(fmt::format("contest {}: only {} rated participants (contests with {} or fewer are skipped)", c.id,
                            c.field.size(), o.min_field));
  if (c.problems.empty()) throw Error(fmt::format("contest {}: the standings list no problems", c.id));
  ContestPerformance p;
  p.contest_id = c.id;
  p.name = c.name;
  p.scoring = c.scoring;
  std::string missing;
  for (const auto& prob : c.problems) {
    ProblemScore ps;
    ps.id = prob.id;
    auto it = outcomes.find(prob.id);
    if (it == outcomes.end() || it->second.attempts == 0) {
      ps.missing = true;
      missing.append(missing.empty() ? "" : ", ").append(prob.id);
    } else {
      ps.attempts = it->second.attempts;
      ps.first_pass = it->second.first_pass;
    }
    if (ps.first_pass >= 0) {
      ++p.solved;
      if (c.scoring == ContestScoring::points) {
        ps.points = std::max(0.0, prob.points - 50.0 * ps.first_pass);
      } else {
        ps.points = 1.0;
        p.penalty += 10.0 * ps.first_pass;
      }
      p.score += ps.points;
    }
    p.problems.push_back(std::move(ps));
  }
  if (!missing.empty() && !o.missing_as_unsolved)
    throw Error(fmt::format("contest {}: the run has no graded samples of {}", c.id, missing));

  std::vector<double> olds;
  olds.reserve(c.field.size());
  for (const auto& f : c.field) {
    olds.push_back(f.old_rating);
    bool same_points = std::fabs(f.points - p.score) <= kScoreEps;
    bool same_penalty = std::fabs(f.penalty - p.penalty) <= kScoreEps;
    if (f.points > p.score + kScoreEps || (same_points && f.penalty < p.penalty - kScoreEps)) ++p.better;
    else if (same_points && same_penalty) ++p.tied;
  }
  p.field = static_cast<int>(c.field.size());
  p.place = 1.0 + p.better + 0.5 * p.tied;
  auto [lo_it, hi_it] = std::minmax_element(olds.begin(), olds.end());
  p.lower_bound = *lo_it - o.bound_margin;
  p.upper_bound = *hi_it + o.bound_margin;
  PlaceSolution s = solve_place(p.place, group(olds), p.lower_bound, p.upper_bound);
  p.rating = s.rating;
  p.clamped = s.clamped;
  return p;
}

// ---- problem ratings ----

double problem_log_likelihood(double r, const std::vector<RatedProblem>& problems) {
  double ll = 0.0;
  for (const auto& p : problems) {
    double x = (p.rating - r) * kLn10Over400;  // P(solve) = 1 / (1 + e^x)
    ll -= p.solved ? softplus(x) : softplus(-x);
  }
  return ll;
}

double normal_quantile(double p) {
  if (!(p > 0.0 && p < 1.0)) throw Error(fmt::format("normal_quantile: p = {} is not in (0, 1)", p));
  // Phi(x) = erfc(-x / sqrt 2) / 2 increases in x.
  return bisect_increasing([p](double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)) - p; }, -40.0, 40.0, 1e-13);
}

MleRating rating_from_problems(const std::vector<RatedProblem>& problems, const ProblemRatingOptions& o) {
  if (problems.empty()) throw Error("rating from problem ratings: no rated problem was attempted");
  if (!(o.confidence > 0.0 && o.confidence < 1.0))
    throw Error(fmt::format("field 'confidence': {} is not in (0, 1)", o.confidence));
  MleRating m;
  m.problems = static_cast<int>(problems.size());
  double dmin = kInf, dmax = -kInf;
  for (const auto& p : problems) {
    m.solved += p.solved ? 1 : 0;
    dmin = std::min(dmin, p.rating);
    dmax = std::max(dmax, p.rating);
  }
  const double lo = dmin - o.search_margin, hi = dmax + o.search_margin;
  double z = normal_quantile(0.5 + 0.5 * o.confidence);
  double half_q = 0.5 * z * z;  // l(mle) - l(r) at the interval's ends

  if (m.solved == 0 || m.solved == m.problems) {
    // The likelihood is monotone: its supremum (0) lies at -inf / +inf and only one end of the interval is finite.
    m.censored = m.solved == 0 ? Censoring::none_solved : Censoring::all_solved;
    m.log_likelihood = 0.0;
    m.se = std::numeric_limits<double>::quiet_NaN();
    auto drop = [&](double r) { return -problem_log_likelihood(r, problems) - half_q; };  // 0 at the finite end
    if (m.censored == Censoring::all_solved) {
      // -l(r) decreases in r.
      double end = drop(lo) < 0 ? lo : bisect_increasing([&](double r) { return -drop(r); }, lo, hi);
      m.ci_lo = end;
      m.ci_hi = kInf;
      m.rating = end;
    } else {
      double end = drop(hi) < 0 ? hi : bisect_increasing(drop, lo, hi);
      m.ci_lo = -kInf;
      m.ci_hi = end;
      m.rating = end;
    }
    return m;
  }

  // Score equation: sum_j P(r beats d_j) - solved, increasing in r.
  auto excess = [&](double r) {
    double s = -static_cast<double>(m.solved);
    for (const auto& p : problems) s += elo_win_probability(r, p.rating);
    return s;
  };
  m.rating = bisect_increasing(excess, lo, hi);
  m.log_likelihood = problem_log_likelihood(m.rating, problems);
  double info = 0.0;
  for (const auto& p : problems) {
    double q = elo_win_probability(m.rating, p.rating);
    info += q * (1.0 - q);
  }
  info *= kLn10Over400 * kLn10Over400;
  m.se = 1.0 / std::sqrt(info);
  auto drop = [&](double r) { return m.log_likelihood - problem_log_likelihood(r, problems) - half_q; };
  // drop() decreases on [lo, mle] and increases on [mle, hi].
  m.ci_lo = drop(lo) < 0 ? -kInf : bisect_increasing([&](double r) { return -drop(r); }, lo, m.rating);
  m.ci_hi = drop(hi) < 0 ? kInf : bisect_increasing(drop, m.rating, hi);
  return m;
}

// ---- percentile ----

RatingDistribution::RatingDistribution(std::vector<std::pair<double, std::int64_t>> histogram, std::string population)
    : population_(std::move(population)) {
  std::map<double, std::int64_t> merged;
  for (const auto& [r, n] : histogram) {
    if (n < 0) throw Error(fmt::format("rating distribution: negative count {} at rating {}", n, r));
    if (!std::isfinite(r)) throw Error("rating distribution: a rating is not a finite number");
    if (n > 0) merged[r] += n;
  }
  for (const auto& [r, n] : merged) {
    values_.push_back(r);
    below_.push_back(total_);
    total_ += n;
  }
  if (total_ == 0) throw Error("rating distribution: it holds no users");
}

RatingDistribution RatingDistribution::load(const std::string& path, const std::string& population) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::exception& e) {
    fail_at(path, 0, "", std::string("invalid JSON: ") + e.what());
  }
  std::vector<std::pair<double, std::int64_t>> hist;
  std::int64_t declared = -1;
  std::string label = population;
  if (j.is_array()) {
    for (size_t i = 0; i < j.size(); ++i) {
      if (!j[i].is_number()) fail_at(path, 0, fmt::format("[{}]", i), "expected a rating (a number)");
      hist.emplace_back(j[i].get<double>(), 1);
    }
  } else if (j.is_object()) {
    auto h = j.find("histogram");
    if (h == j.end() || !h->is_array()) fail_at(path, 0, "histogram", "missing or not a list of [rating, count]");
    for (size_t i = 0; i < h->size(); ++i) {
      const auto& e = (*h)[i];
      if (!e.is_array() || e.size() != 2 || !e[0].is_number() || !e[1].is_number_integer() || e[1].get<std::int64_t>() < 0)
        fail_at(path, 0, fmt::format("histogram[{}]", i), "expected [rating, count] with a count >= 0");
      hist.emplace_back(e[0].get<double>(), e[1].get<std::int64_t>());
    }
    if (auto u = j.find("users"); u != j.end()) {
      if (!u->is_number_integer()) fail_at(path, 0, "users", "expected an integer");
      declared = u->get<std::int64_t>();
    }
    if (label.empty())
      if (auto p = j.find("population"); p != j.end()) {
        if (!p->is_string()) fail_at(path, 0, "population", "expected a string");
        label = p->get<std::string>();
      }
  } else {
    fail_at(path, 0, "", "expected {\"histogram\": [[rating, count], ...]} or a list of ratings");
  }
  if (label.empty()) label = "all {users} rated Codeforces accounts in " + std::filesystem::path(path).filename().string();
  RatingDistribution d;
  try {
    d = RatingDistribution(std::move(hist), label);
  } catch (const Error& e) {
    fail_at(path, 0, "histogram", e.what());
  }
  if (declared >= 0 && declared != d.total_)
    fail_at(path, 0, "users", fmt::format("says {} but the histogram counts {}", declared, d.total_));
  auto pos = d.population_.find("{users}");
  if (pos != std::string::npos) d.population_.replace(pos, 7, thousands(d.total_));
  return d;
}

double RatingDistribution::percentile(double rating) const {
  if (total_ == 0) throw Error("rating distribution: empty");
  auto it = std::lower_bound(values_.begin(), values_.end(), rating);
  std::int64_t below = it == values_.end() ? total_ : below_[static_cast<size_t>(it - values_.begin())];
  return 100.0 * static_cast<double>(below) / static_cast<double>(total_);
}

}  // namespace reval
