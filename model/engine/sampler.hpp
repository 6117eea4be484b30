// Token sampling: temperature, top-k, top-p, min-p, greedy — the reference sampler (the CPU device's sample op).
//
// Theory of operation: sample_token() follows transformers' warper order — temperature, then top-k (keep the
// tokens whose logit is at least the k-th largest; ties at the border stay, as in transformers), top-p (the
// smallest set of most likely tokens, ties broken by lower id, whose probability reaches top_p; always at least
// one), then min-p (keep tokens whose probability is at least min_p times the top token's). Each filter is a
// threshold, so the kept set is found in linear time without sorting the vocabulary: top-k by selection, top-p
// with a histogram of the probability mass over logit buckets, ordering only the tokens of the bucket where the
// running mass reaches top_p (what a GPU kernel does with a bucket/radix select). The draw then walks the kept tokens in increasing id order and
// returns the one where the cumulative probability first exceeds u * total, for one uniform u in [0, 1) — a
// canonical order a GPU kernel can reproduce with a prefix sum. Weights are fp32 exp(logit - max), summed in
// double; a token whose weight underflows to 0 is never drawn. Only ids < n_valid are candidates (padded
// embedding rows beyond the tokenizer's vocabulary are masked); NaN logits are never drawn. temperature <= 0 means
// greedy (argmax, lowest id on ties). The engine takes u from kernels::counter_uniform(sample seed, position of
// the token drawn) (kernels/counter_rng.hpp): no generator state is carried between steps, so a seed gives the
// same tokens on every platform, batch composition and device.
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

namespace reval::engine {

struct SamplerConfig {
  double temperature = 0.0;  // <= 0: greedy
  double top_p = 1.0;        // >= 1: off
  int top_k = 0;             // <= 0: off
  double min_p = 0.0;        // <= 0: off
};

// Scratch reused between calls (no allocation after warm-up).
struct SamplerScratch {
  struct Candidate {
    float logit;         // scaled by 1 / temperature
    std::int32_t id;
    float weight;        // exp(logit - max)
  };
  std::vector<float> values;        // logits / temperature
  std::vector<float> w;             // exp(value - max) of the candidates, 0 for the others
  std::vector<std::uint16_t> bucket;  // top-p histogram bucket of each candidate
  std::vector<double> mass;         // top-p histogram
  std::vector<Candidate> cand;
  std::vector<std::int32_t> kept;   // kept ids, increasing
  std::vector<double> weight;       // their weights
};

// Draws one id from logits[0, n_valid) with the uniform u in [0, 1).
std::int32_t sample_token(const float* logits, std::int64_t n_valid, const SamplerConfig& config, double u,
                          SamplerScratch& scratch);

// Throws reval::Error naming the field when a sampling parameter is out of range (top_p in (0, 1], top_k >= 0,
// min_p in [0, 1], temperature finite).
void validate(const SamplerConfig& config);

// Ids the filters keep (sorted by decreasing probability, then id) and their renormalised probabilities — for tests.
std::vector<std::pair<std::int32_t, double>> sampling_distribution(const float* logits, std::int64_t n_valid,
                                                                   const SamplerConfig& config);

}  // namespace reval::engine
