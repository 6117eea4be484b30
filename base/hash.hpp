// Small, stable hashing and seeded randomness: the same numbers on every platform, compiler and library version
// (std::hash and the <random> distributions promise neither), so seeds, shuffles and cache keys reproduce.
//  * fnv1a64: 64-bit FNV-1a over bytes, from a chosen basis (default the standard offset basis).
//  * splitmix64_mix: the splitmix64 output function applied to x + golden gamma (Steele, Lea, Flood 2014): a
//    bijective finaliser that turns any 64-bit value into a well-mixed one.
//  * SplitMix64: the generator (state advances by the golden gamma; each output is the mix of the state).
#pragma once
#include <cstdint>
#include <string_view>

namespace reval {

inline constexpr std::uint64_t kFnv1a64Basis = 0xcbf29ce484222325ULL;
inline constexpr std::uint64_t kFnv1a64Prime = 0x100000001b3ULL;
inline constexpr std::uint64_t kGoldenGamma = 0x9e3779b97f4a7c15ULL;

constexpr std::uint64_t fnv1a64(std::string_view data, std::uint64_t basis = kFnv1a64Basis) {
  std::uint64_t h = basis;
  for (unsigned char c : data) {
    h ^= c;
    h *= kFnv1a64Prime;
  }
  return h;
}

constexpr std::uint64_t splitmix64_mix(std::uint64_t x) {
  x += kGoldenGamma;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

class SplitMix64 {
 public:
  explicit constexpr SplitMix64(std::uint64_t seed) : state_(seed) {}
  constexpr std::uint64_t next() {
    std::uint64_t out = splitmix64_mix(state_);
    state_ += kGoldenGamma;
    return out;
  }
  // Uniform in [0, n) by rejection (no modulo bias); n > 0.
  constexpr std::uint64_t below(std::uint64_t n) {
    const std::uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    for (;;) {
      std::uint64_t v = next();
      if (v < limit) return v % n;
    }
  }

 private:
  std::uint64_t state_;
};

}  // namespace reval
