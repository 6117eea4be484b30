// Counter-based random numbers for token sampling, shared by host and CUDA device code.
//
// Theory of operation: the uniform a sample uses to draw the token at sequence position p is a pure function of
// (sample seed, p): the p-th output of the SplitMix64 stream whose state starts at mix64(seed). Nothing is carried
// from one step to the next, so a sample's tokens do not depend on which other sequences share its batch, whether
// it was preempted and recomputed, or on which device it ran — the CPU sampler and a GPU sampling kernel that call
// counter_uniform() with the same arguments draw the same number. `stream` selects independent streams for
// samplers that need more than one number per token (e.g. rejection sampling); the reference sampler uses 0.
#pragma once
#include <cstdint>

#if defined(__CUDACC__)
#define REVAL_HOST_DEVICE __host__ __device__
#else
#define REVAL_HOST_DEVICE
#endif

namespace reval::kernels {

// SplitMix64's finaliser (a bijection on 64-bit integers with good avalanche).
REVAL_HOST_DEVICE inline std::uint64_t mix64(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// 64 random bits for (seed, position, stream).
REVAL_HOST_DEVICE inline std::uint64_t counter_random(std::uint64_t seed, std::uint64_t position,
                                                      std::uint64_t stream = 0) {
  constexpr std::uint64_t kGamma = 0x9e3779b97f4a7c15ULL;
  const std::uint64_t start = mix64(seed + kGamma) ^ mix64(stream * 0xd1b54a32d192ed03ULL + kGamma);
  return mix64(start + (position + 1) * kGamma);
}

// Uniform in [0, 1) with 53 random bits.
REVAL_HOST_DEVICE inline double counter_uniform(std::uint64_t seed, std::uint64_t position, std::uint64_t stream = 0) {
  return static_cast<double>(counter_random(seed, position, stream) >> 11) * 0x1.0p-53;
}

}  // namespace reval::kernels
