// Sampling (see sampler.hpp).
#include "model/engine/sampler.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "base/error.hpp"

namespace reval::engine {

namespace {

using Candidate = SamplerScratch::Candidate;

// The strict order of "more likely": higher logit first, lower id on ties.
bool before(const Candidate& a, const Candidate& b) { return a.logit > b.logit || (a.logit == b.logit && a.id < b.id); }

// Logits more than this many nats below the maximum share the last histogram bucket (their total weight is at
// most vocab * e^-40 of the top token's: top-p never needs to order them).
constexpr float kRange = 40.0f;
constexpr int kBuckets = 4096;

// Fills scratch.kept (increasing ids) and scratch.weight with the tokens the filters keep; returns their total
// weight (0 when nothing is left, e.g. all logits NaN).
double filter(const float* logits, std::int64_t n_valid, const SamplerConfig& c, SamplerScratch& s) {
  const float inv_t = static_cast<float>(1.0 / c.temperature);
  constexpr float kNone = -std::numeric_limits<float>::infinity();
  const auto n_ids = static_cast<std::size_t>(n_valid);
  s.values.resize(n_ids);
  float mx = kNone;
  std::int64_t n = 0;
  for (std::size_t i = 0; i < n_ids; ++i) {
    float l = logits[i] * inv_t;
    if (std::isnan(l)) l = kNone;
    s.values[i] = l;
    if (l != kNone) {
      mx = std::max(mx, l);
      ++n;
    }
  }
  s.kept.clear();
  s.weight.clear();
  if (n == 0) return 0.0;
  if (mx == std::numeric_limits<float>::infinity()) {  // +inf logits take all the mass, shared equally
    for (std::size_t i = 0; i < n_ids; ++i)
      if (s.values[i] == mx) {
        s.kept.push_back(static_cast<std::int32_t>(i));
        s.weight.push_back(1.0);
      }
    return static_cast<double>(s.kept.size());
  }
  // top-k: the k-th largest logit; ties with it stay.
  float kth = kNone;
  const bool top_k = c.top_k > 0 && c.top_k < n;
  if (top_k) {
    s.cand.clear();  // selection runs on a copy of the finite logits
    for (std::size_t i = 0; i < n_ids; ++i)
      if (s.values[i] != kNone) s.cand.push_back({s.values[i], 0, 0.0f});
    auto k = s.cand.begin() + (c.top_k - 1);
    std::nth_element(s.cand.begin(), k, s.cand.end(), [](const Candidate& a, const Candidate& b) { return a.logit > b.logit; });
    kth = k->logit;
  }
  // Weights exp(l - max) of the candidates (0 for the others: -inf, below the top-k), and for top-p the mass
  // histogram over logit buckets ordered from the most likely down (every token of a bucket is more likely than
  // any token of a later one).
  const bool top_p = c.top_p < 1.0;
  const float scale = static_cast<float>(kBuckets) / kRange;
  s.w.resize(n_ids);
  if (top_p) {
    s.bucket.resize(n_ids);
    s.mass.assign(kBuckets, 0.0);
  }
  double total = 0.0;
  for (std::size_t i = 0; i < n_ids; ++i) {
    const float l = s.values[i];
    const float w = (top_k && !(l >= kth)) ? 0.0f : std::exp(l - mx);  // exp(-inf) = 0
    s.w[i] = w;
    total += w;
    if (top_p && w > 0.0f) {
      const int b = std::min(kBuckets - 1, static_cast<int>((mx - l) * scale));
      s.bucket[i] = static_cast<std::uint16_t>(b);
      s.mass[static_cast<std::size_t>(b)] += w;
    }
  }
  // top-p: the smallest set of most likely tokens (ties: lower id first) whose mass reaches top_p of the total.
  // Find the bucket where the running mass reaches the target and order only that bucket's tokens; the set is then
  // a threshold (lo_logit, lo_id) on the "more likely" order.
  float lo_logit = kNone;
  std::int32_t lo_id = std::numeric_limits<std::int32_t>::max();
  if (top_p) {
    const double target = c.top_p * total;
    double acc = 0.0;
    int cross = kBuckets - 1;
    for (int b = 0; b < kBuckets; ++b) {
      if (acc + s.mass[static_cast<std::size_t>(b)] >= target) {
        cross = b;
        break;
      }
      acc += s.mass[static_cast<std::size_t>(b)];
    }
    s.cand.clear();
    for (std::size_t i = 0; i < n_ids; ++i)
      if (s.w[i] > 0.0f && s.bucket[i] == cross) s.cand.push_back({s.values[i], static_cast<std::int32_t>(i), s.w[i]});
    std::sort(s.cand.begin(), s.cand.end(), before);
    std::size_t e = 0;
    for (; e + 1 < s.cand.size(); ++e) {
      acc += s.cand[e].weight;
      if (acc >= target) break;
    }
    if (!s.cand.empty()) {
      lo_logit = s.cand[e].logit;
      lo_id = s.cand[e].id;
    }
  }
  // min-p: probability at least min_p times the top token's; the most likely token always stays.
  float floor = kNone;
  if (c.min_p > 0.0) floor = mx + static_cast<float>(std::log(c.min_p));
  double sum = 0.0;
  for (std::size_t i = 0; i < n_ids; ++i) {
    const float w = s.w[i];
    if (w == 0.0f) continue;  // not a candidate, or a weight that underflowed (never drawn)
    const float l = s.values[i];
    if (l < lo_logit || (l == lo_logit && static_cast<std::int32_t>(i) > lo_id)) continue;
    if (l < floor && l != mx) continue;
    s.kept.push_back(static_cast<std::int32_t>(i));
    s.weight.push_back(w);
    sum += w;
  }
  return sum;
}

}  // namespace

void validate(const SamplerConfig& c) {
  if (!std::isfinite(c.temperature)) throw Error("sampling: temperature must be a finite number");
  if (!(c.top_p > 0.0 && c.top_p <= 1.0)) throw Error("sampling: top_p must be in (0, 1]");
  if (c.top_k < 0) throw Error("sampling: top_k must be >= 0");
  if (!(c.min_p >= 0.0 && c.min_p <= 1.0)) throw Error("sampling: min_p must be in [0, 1]");
}

std::int32_t sample_token(const float* logits, std::int64_t n_valid, const SamplerConfig& config, double u01,
                          SamplerScratch& scratch) {
  if (config.temperature <= 0.0 || config.top_k == 1) {
    std::int64_t best = 0;
    for (std::int64_t i = 1; i < n_valid; ++i)
      if (logits[i] > logits[best]) best = i;
    return static_cast<std::int32_t>(best);
  }
  const double sum = filter(logits, n_valid, config, scratch);
  if (scratch.kept.empty()) return 0;
  const double u = u01 * sum;
  double cum = 0.0;
  for (std::size_t i = 0; i < scratch.kept.size(); ++i) {
    cum += scratch.weight[i];
    if (u < cum) return scratch.kept[i];
  }
  return scratch.kept.back();
}

std::vector<std::pair<std::int32_t, double>> sampling_distribution(const float* logits, std::int64_t n_valid,
                                                                   const SamplerConfig& config) {
  SamplerScratch s;
  SamplerConfig c = config;
  if (c.temperature <= 0.0) c.temperature = 1.0;
  const double sum = filter(logits, n_valid, c, s);
  std::vector<std::pair<std::int32_t, double>> out;
  for (std::size_t i = 0; i < s.kept.size(); ++i) out.emplace_back(s.kept[i], s.weight[i] / sum);
  std::sort(out.begin(), out.end(), [&](const auto& a, const auto& b) {
    const float la = logits[a.first], lb = logits[b.first];
    return la > lb || (la == lb && a.first < b.first);
  });
  return out;
}

}  // namespace reval::engine
