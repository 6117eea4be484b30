// Sampler: greedy, top-k / top-p / min-p masks, padded rows never sampled, the counter-based uniforms (pinned
// values, reproducible per (seed, position), distinct across seeds and positions), parameter validation, and that
// draws follow the filtered distribution.
#include <gtest/gtest.h>

#include <cmath>
#include <algorithm>
#include <map>
#include <random>
#include <set>

#include "base/error.hpp"
#include "kernels/counter_rng.hpp"
#include "model/engine/sampler.hpp"

namespace reval::engine {
namespace {

std::set<std::int32_t> kept(const std::vector<float>& logits, const SamplerConfig& c, std::int64_t n_valid = -1) {
  std::set<std::int32_t> s;
  for (auto& [id, p] : sampling_distribution(logits.data(), n_valid < 0 ? logits.size() : n_valid, c)) s.insert(id);
  return s;
}

// log-probabilities of a known distribution: p = {0.5, 0.25, 0.125, 0.0625, 0.0625}
const std::vector<float> kLogits = {std::log(0.5f), std::log(0.25f), std::log(0.125f), std::log(0.0625f),
                                    std::log(0.0625f)};

TEST(Sampler, GreedyIsArgmaxWithLowestIdOnTies) {
  SamplerScratch s;
  std::vector<float> l = {0.1f, 3.0f, -2.0f, 3.0f};
  EXPECT_EQ(sample_token(l.data(), 4, SamplerConfig{}, 0.99, s), 1);
  SamplerConfig k1{1.0, 1.0, 1, 0.0};
  EXPECT_EQ(sample_token(l.data(), 4, k1, 0.99, s), 1);
}

TEST(Sampler, TopKTopPMinPMasks) {
  EXPECT_EQ(kept(kLogits, {1.0, 1.0, 2, 0.0}), (std::set<std::int32_t>{0, 1}));
  EXPECT_EQ(kept(kLogits, {1.0, 1.0, 0, 0.0}).size(), 5u);
  // top-p 0.7: 0.5 < 0.7, 0.5 + 0.25 >= 0.7 -> {0, 1}
  EXPECT_EQ(kept(kLogits, {1.0, 0.7, 0, 0.0}), (std::set<std::int32_t>{0, 1}));
  EXPECT_EQ(kept(kLogits, {1.0, 0.8, 0, 0.0}), (std::set<std::int32_t>{0, 1, 2}));
  EXPECT_EQ(kept(kLogits, {1.0, 0.01, 0, 0.0}), (std::set<std::int32_t>{0}));  // always at least one
  // min-p 0.2: keep p >= 0.1 -> {0, 1, 2}
  EXPECT_EQ(kept(kLogits, {1.0, 1.0, 0, 0.2}), (std::set<std::int32_t>{0, 1, 2}));
  EXPECT_EQ(kept(kLogits, {1.0, 1.0, 0, 0.6}), (std::set<std::int32_t>{0}));
  // Temperature sharpens before top-p: at T=0.5 probabilities are ~ {0.76, 0.19, ...}
  EXPECT_EQ(kept(kLogits, {0.5, 0.7, 0, 0.0}), (std::set<std::int32_t>{0}));
  // Renormalised probabilities after filtering.
  auto d = sampling_distribution(kLogits.data(), 5, {1.0, 1.0, 2, 0.0});
  ASSERT_EQ(d.size(), 2u);
  EXPECT_NEAR(d[0].second, 2.0 / 3.0, 1e-6);
  EXPECT_NEAR(d[1].second, 1.0 / 3.0, 1e-6);
}

TEST(Sampler, TopPOverLargeVocabularyMatchesFullSort) {
  // 5000 near-uniform logits: top-p must look beyond the first 1024 sorted candidates.
  std::vector<float> l(5000);
  for (std::size_t i = 0; i < l.size(); ++i) l[i] = static_cast<float>((i * 7919) % 5000) * 1e-4f;
  auto d = sampling_distribution(l.data(), 5000, {1.0, 0.5, 0, 0.0});
  EXPECT_GT(d.size(), 2000u);
  EXPECT_LT(d.size(), 2600u);
  for (std::size_t i = 1; i < d.size(); ++i) ASSERT_LE(l[d[i].first], l[d[i - 1].first]);
}

// The filters by the book: sort everything, then cut. The sampler must keep exactly the same set.
std::set<std::int32_t> by_the_book(const std::vector<float>& logits, std::int64_t n_valid, const SamplerConfig& c) {
  std::vector<std::pair<float, std::int32_t>> v;
  for (std::int64_t i = 0; i < n_valid; ++i) v.emplace_back(logits[i] / static_cast<float>(c.temperature), i);
  std::sort(v.begin(), v.end(), [](auto& a, auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });
  std::size_t keep = v.size();
  if (c.top_k > 0 && static_cast<std::size_t>(c.top_k) < keep) {
    const float kth = v[c.top_k - 1].first;
    keep = 0;
    while (keep < v.size() && v[keep].first >= kth) ++keep;
  }
  const float mx = v[0].first;
  if (c.top_p < 1.0) {
    double total = 0, cum = 0;
    for (std::size_t i = 0; i < keep; ++i) total += std::exp(v[i].first - mx);
    std::size_t i = 0;
    for (; i < keep; ++i) {
      cum += std::exp(v[i].first - mx);
      if (cum >= c.top_p * total) break;
    }
    keep = std::min(keep, i + 1);
  }
  std::set<std::int32_t> out;
  for (std::size_t i = 0; i < keep; ++i) {
    if (std::exp(v[i].first - mx) == 0.0f) continue;  // a weight that underflows can never be drawn
    if (c.min_p <= 0 || i == 0 || v[i].first - mx >= std::log(c.min_p)) out.insert(v[i].second);
  }
  return out;
}

TEST(Sampler, FiltersKeepWhatSortingWouldKeepOnLargeRandomVocabularies) {
  std::mt19937 rng(7);
  int checked = 0;
  for (int trial = 0; trial < 30; ++trial) {
    const std::int64_t V = trial % 3 == 0 ? 151936 : 5000 + trial * 37;
    std::normal_distribution<float> nd(0.0f, trial % 2 ? 1.0f : 4.0f);
    std::vector<float> l(static_cast<std::size_t>(V));
    for (auto& x : l) x = nd(rng);
    SamplerConfig c{0.3 + 0.1 * (trial % 9), trial % 4 == 0 ? 1.0 : 0.5 + 0.05 * (trial % 10), trial % 5 == 1 ? 50 + trial : 0,
                    trial % 7 == 2 ? 0.05 : 0.0};
    const std::int64_t n_valid = V - (trial % 2 ? 10 : 0);
    EXPECT_EQ(kept(l, c, n_valid), by_the_book(l, n_valid, c)) << "trial " << trial;
    ++checked;
  }
  EXPECT_EQ(checked, 30);
}

TEST(Sampler, PaddedRowsAreNeverSampled) {
  std::vector<float> l(100, 0.0f);
  for (int i = 90; i < 100; ++i) l[i] = 50.0f;  // padding rows with huge logits
  SamplerScratch s;
  for (int i = 0; i < 500; ++i)
    ASSERT_LT(sample_token(l.data(), 90, {1.0, 1.0, 0, 0.0}, kernels::counter_uniform(3, i), s), 90);
  EXPECT_LT(sample_token(l.data(), 90, SamplerConfig{}, 0.5, s), 90);
}

TEST(Sampler, UniformMapsOntoTheCumulativeDistribution) {
  SamplerScratch s;
  const SamplerConfig c{1.0, 1.0, 0, 0.0};  // p = {0.5, 0.25, 0.125, 0.0625, 0.0625}
  EXPECT_EQ(sample_token(kLogits.data(), 5, c, 0.0, s), 0);
  EXPECT_EQ(sample_token(kLogits.data(), 5, c, 0.49, s), 0);
  EXPECT_EQ(sample_token(kLogits.data(), 5, c, 0.51, s), 1);
  EXPECT_EQ(sample_token(kLogits.data(), 5, c, 0.80, s), 2);
  EXPECT_EQ(sample_token(kLogits.data(), 5, c, 0.90, s), 3);
  EXPECT_EQ(sample_token(kLogits.data(), 5, c, 0.999, s), 4);
}

TEST(Sampler, CounterUniformsArePinnedReproducibleAndDistinct) {
  // Pinned values: the stream a seed gives must never change silently (stored samples would no longer resume
  // identically), and a GPU sampler must compute the same numbers.
  EXPECT_EQ(kernels::counter_random(0, 0), kernels::counter_random(0, 0));
  EXPECT_EQ(kernels::counter_random(0, 0), 0xe220a8397b1dcdafULL);
  EXPECT_EQ(kernels::counter_random(12345, 77), 0xa1cb3f9a2e2188eeULL);
  EXPECT_NE(kernels::counter_random(1, 5), kernels::counter_random(2, 5));
  EXPECT_NE(kernels::counter_random(1, 5), kernels::counter_random(1, 6));
  EXPECT_NE(kernels::counter_random(1, 5, 0), kernels::counter_random(1, 5, 1));
  std::set<std::uint64_t> seen;
  for (std::uint64_t seed = 0; seed < 64; ++seed)
    for (std::uint64_t pos = 0; pos < 64; ++pos) seen.insert(kernels::counter_random(seed, pos));
  EXPECT_EQ(seen.size(), 64u * 64u);
  auto draw = [](std::uint64_t seed) {
    SamplerScratch s;
    std::vector<std::int32_t> out;
    for (int i = 0; i < 64; ++i)
      out.push_back(sample_token(kLogits.data(), 5, {1.0, 1.0, 0, 0.0}, kernels::counter_uniform(seed, i), s));
    return out;
  };
  EXPECT_EQ(draw(123), draw(123));
  EXPECT_NE(draw(123), draw(124));
}

TEST(Sampler, InvalidParametersAreErrors) {
  EXPECT_NO_THROW(validate(SamplerConfig{0.6, 0.95, 0, 0.0}));
  EXPECT_THROW(validate(SamplerConfig{0.6, 0.0, 0, 0.0}), Error);
  EXPECT_THROW(validate(SamplerConfig{0.6, 1.5, 0, 0.0}), Error);
  EXPECT_THROW(validate(SamplerConfig{0.6, 1.0, -1, 0.0}), Error);
  EXPECT_THROW(validate(SamplerConfig{0.6, 1.0, 0, 1.5}), Error);
  EXPECT_THROW(validate(SamplerConfig{std::nan(""), 1.0, 0, 0.0}), Error);
}

TEST(Sampler, FrequenciesFollowTheDistribution) {
  SamplerScratch s;
  std::map<std::int32_t, int> count;
  const int n = 40000;
  for (int i = 0; i < n; ++i)
    count[sample_token(kLogits.data(), 5, {1.0, 1.0, 0, 0.0}, kernels::counter_uniform(2024, i), s)]++;
  const double p[5] = {0.5, 0.25, 0.125, 0.0625, 0.0625};
  for (int i = 0; i < 5; ++i) EXPECT_NEAR(count[i] / double(n), p[i], 0.01) << i;
  double u = 0;
  for (int i = 0; i < 1000; ++i) {
    const double x = kernels::counter_uniform(99, i);
    ASSERT_GE(x, 0.0);
    ASSERT_LT(x, 1.0);
    u += x;
  }
  EXPECT_NEAR(u / 1000, 0.5, 0.05);
}

}  // namespace
}  // namespace reval::engine
