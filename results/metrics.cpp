// Implementation of results/metrics.hpp; the definitions and the statistical choices are documented there.
// Randomness: std::mt19937_64 (its sequence is fixed by the standard) with indices drawn as rng() % m, so that
// intervals and p-values are identical across platforms and standard libraries for the same seed.
#include "results/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include <fmt/format.h>

#include "base/error.hpp"

namespace reval {

double pass_at_k(int n, int c, int k) {
  if (n < 0 || c < 0 || c > n) throw Error(fmt::format("pass@k: need 0 <= c <= n, got n={} c={}", n, c));
  if (k < 1 || k > n) throw Error(fmt::format("pass@k: need 1 <= k <= n, got n={} k={}", n, k));
  if (n - c < k) return 1.0;  // every k-subset holds a correct sample
  double prod = 1.0;
  for (int i = n - c + 1; i <= n; ++i) prod *= 1.0 - static_cast<double>(k) / static_cast<double>(i);
  return 1.0 - prod;
}

ConsensusResult majority_vote(std::vector<SampleOutcome> samples, int k) {
  if (k < 1) throw Error(fmt::format("cons@k: need k >= 1, got {}", k));
  std::stable_sort(samples.begin(), samples.end(),
                   [](const SampleOutcome& a, const SampleOutcome& b) { return a.sample_index < b.sample_index; });
  struct Tally {
    int votes = 0;
    size_t first = 0;        // position of the first occurrence among the considered samples
    bool first_correct = false;
  };
  std::map<std::string, Tally> tally;
  ConsensusResult r;
  size_t pos = 0;
  for (const auto& s : samples) {
    if (s.kind != OutcomeKind::scored) continue;
    if (r.considered == k) break;
    ++r.considered;
    ++pos;
    if (!s.answer) continue;
    ++r.voters;
    auto [it, inserted] = tally.try_emplace(*s.answer);
    if (inserted) {
      it->second.first = pos;
      it->second.first_correct = s.correct;
    }
    ++it->second.votes;
  }
  const std::string* best = nullptr;
  const Tally* best_t = nullptr;
  int best_count = 0;  // answers sharing the top vote count
  for (const auto& [answer, t] : tally) {
    if (!best_t || t.votes > best_t->votes) {
      best = &answer;
      best_t = &t;
      best_count = 1;
    } else if (t.votes == best_t->votes) {
      ++best_count;
      if (t.first < best_t->first) {
        best = &answer;
        best_t = &t;
      }
    }
  }
  if (best_t) {
    r.answer = *best;
    r.votes = best_t->votes;
    r.correct = best_t->first_correct;
    r.tie = best_count > 1;
  }
  return r;
}

namespace {

double mean_of(const std::vector<double>& v) {
  double s = 0.0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}

double se_of(const std::vector<double>& v, double mean) {
  if (v.size() < 2) return std::numeric_limits<double>::quiet_NaN();
  double ss = 0.0;
  for (double x : v) ss += (x - mean) * (x - mean);
  double sd = std::sqrt(ss / static_cast<double>(v.size() - 1));
  return sd / std::sqrt(static_cast<double>(v.size()));
}

// Linear-interpolated quantile of sorted values (type 7).
double quantile_sorted(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return std::numeric_limits<double>::quiet_NaN();
  double h = q * static_cast<double>(sorted.size() - 1);
  auto lo = static_cast<size_t>(std::floor(h));
  size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (h - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
}

void check_bootstrap(const BootstrapOptions& o) {
  if (o.resamples < 1) throw Error(fmt::format("bootstrap: field 'resamples': must be >= 1, got {}", o.resamples));
  if (!(o.confidence > 0.0 && o.confidence < 1.0))
    throw Error(fmt::format("bootstrap: field 'confidence': must be in (0, 1), got {}", o.confidence));
}

// Percentile bootstrap interval of the mean of `values`.
std::pair<double, double> bootstrap_ci(const std::vector<double>& values, const BootstrapOptions& o) {
  std::mt19937_64 rng(o.seed);
  const size_t m = values.size();
  std::vector<double> means(static_cast<size_t>(o.resamples));
  for (auto& out : means) {
    double s = 0.0;
    for (size_t i = 0; i < m; ++i) s += values[rng() % m];
    out = s / static_cast<double>(m);
  }
  std::sort(means.begin(), means.end());
  double alpha = 1.0 - o.confidence;
  return {quantile_sorted(means, alpha / 2), quantile_sorted(means, 1.0 - alpha / 2)};
}

}  // namespace

Estimate estimate_mean(const std::vector<double>& values, const BootstrapOptions& options) {
  if (values.empty()) throw Error("estimate: no values (no scored problems)");
  check_bootstrap(options);
  Estimate e;
  e.n = static_cast<int>(values.size());
  e.mean = mean_of(values);
  e.se = se_of(values, e.mean);
  if (values.size() < 2) {
    e.ci_lo = e.ci_hi = e.mean;
  } else {
    auto [lo, hi] = bootstrap_ci(values, options);
    e.ci_lo = lo;
    e.ci_hi = hi;
  }
  return e;
}

TaskMetrics compute_task_metrics(const std::vector<ProblemSamples>& problems, const MetricsOptions& options) {
  TaskMetrics m;
  struct Counts {
    const ProblemSamples* p;
    int n = 0, c = 0;
  };
  std::vector<Counts> scored;
  std::vector<double> pass1;
  for (const auto& p : problems) {
    if (p.samples.empty()) continue;
    ++m.problems_total;
    Counts k{&p};
    for (const auto& s : p.samples) {
      ++m.samples;
      switch (s.kind) {
        case OutcomeKind::scored: ++k.n; k.c += s.correct ? 1 : 0; break;
        case OutcomeKind::infra_error: ++m.infra_errors; break;
        case OutcomeKind::ungraded: ++m.ungraded; break;
      }
    }
    m.scored += k.n;
    if (k.n == 0) continue;
    double v = static_cast<double>(k.c) / static_cast<double>(k.n);
    pass1.push_back(v);
    m.per_problem[p.problem_id] = v;
    m.max_samples = std::max(m.max_samples, k.n);
    m.min_samples = m.min_samples == 0 ? k.n : std::min(m.min_samples, k.n);
    scored.push_back(k);
  }
  m.problems = static_cast<int>(scored.size());
  if (scored.empty()) {
    m.pass1.mean = m.pass1.se = m.pass1.ci_lo = m.pass1.ci_hi = std::numeric_limits<double>::quiet_NaN();
    return m;
  }
  m.pass1 = estimate_mean(pass1, options.bootstrap);

  std::vector<int> ks = options.ks;
  if (ks.empty())
    for (int k = 1; k <= m.max_samples; k *= 2) ks.push_back(k);
  std::sort(ks.begin(), ks.end());
  ks.erase(std::unique(ks.begin(), ks.end()), ks.end());
  for (int k : ks) {
    if (k < 1) throw Error(fmt::format("metrics: field 'ks': pass@k needs k >= 1, got {}", k));
    PassAtK r;
    r.k = k;
    std::vector<double> values;
    values.reserve(scored.size());
    for (const auto& c : scored)
      if (c.n >= k) values.push_back(k == 1 ? static_cast<double>(c.c) / c.n : pass_at_k(c.n, c.c, k));
    if (values.empty()) continue;
    Estimate e = estimate_mean(values, options.bootstrap);
    r.problems = e.n;
    r.value = e.mean;
    r.se = e.se;
    r.ci_lo = e.ci_lo;
    r.ci_hi = e.ci_hi;
    m.pass_at.push_back(r);
  }

  int cons_k = options.cons_k > 0 ? options.cons_k : m.max_samples;
  if (options.vote && cons_k >= 2) {
    ConsensusStats cs;
    cs.k = cons_k;
    std::vector<double> values;
    for (const auto& c : scored) {
      auto v = majority_vote(c.p->samples, cons_k);
      values.push_back(v.correct ? 1.0 : 0.0);
      cs.ties += v.tie ? 1 : 0;
      cs.no_votes += v.voters == 0 ? 1 : 0;
    }
    cs.value = estimate_mean(values, options.bootstrap);
    m.cons = cs;
  }
  return m;
}

PairedComparison paired_compare(const std::vector<double>& a, const std::vector<double>& b,
                                const PairedOptions& options) {
  if (a.size() != b.size())
    throw Error(fmt::format("paired comparison: {} values for run A but {} for run B", a.size(), b.size()));
  if (a.empty()) throw Error("paired comparison: the runs have no scored problem in common");
  check_bootstrap(options.bootstrap);
  const size_t m = a.size();
  std::vector<double> d(m);
  for (size_t i = 0; i < m; ++i) d[i] = a[i] - b[i];
  PairedComparison r;
  r.problems = static_cast<int>(m);
  r.mean_a = mean_of(a);
  r.mean_b = mean_of(b);
  r.diff = mean_of(d);
  r.se = se_of(d, r.diff);
  if (m < 2) {
    r.ci_lo = r.ci_hi = r.diff;
  } else {
    auto [lo, hi] = bootstrap_ci(d, options.bootstrap);
    r.ci_lo = lo;
    r.ci_hi = hi;
  }

  // Sign-flip test on the sum (equivalent to the mean for fixed m). A small relative tolerance keeps patterns
  // whose statistic equals the observed one up to rounding on the ">=" side.
  double observed = std::abs(r.diff * static_cast<double>(m));
  double tol = 1e-9 * std::max(1.0, observed);
  if (static_cast<int>(m) <= options.exact_max_problems && m < 31) {
    std::uint64_t patterns = std::uint64_t{1} << m, extreme = 0;
    for (std::uint64_t mask = 0; mask < patterns; ++mask) {
      double s = 0.0;
      for (size_t i = 0; i < m; ++i) s += (mask >> i & 1) ? -d[i] : d[i];
      if (std::abs(s) >= observed - tol) ++extreme;
    }
    r.p_value = static_cast<double>(extreme) / static_cast<double>(patterns);
    r.exact = true;
  } else {
    if (options.permutations < 1)
      throw Error(fmt::format("paired comparison: field 'permutations': must be >= 1, got {}", options.permutations));
    std::mt19937_64 rng(options.bootstrap.seed ^ 0x9e3779b97f4a7c15ULL);
    std::uint64_t extreme = 0, bits = 0;
    int left = 0;
    for (int p = 0; p < options.permutations; ++p) {
      double s = 0.0;
      for (size_t i = 0; i < m; ++i) {
        if (left == 0) {
          bits = rng();
          left = 64;
        }
        s += (bits & 1) ? -d[i] : d[i];
        bits >>= 1;
        --left;
      }
      if (std::abs(s) >= observed - tol) ++extreme;
    }
    r.p_value = static_cast<double>(extreme + 1) / static_cast<double>(options.permutations + 1);
    r.exact = false;
    r.permutations = options.permutations;
  }
  return r;
}

}  // namespace reval
