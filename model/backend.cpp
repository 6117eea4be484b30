// Shared pieces of the Backend interface.
#include "model/backend.hpp"

#include "base/hash.hpp"

namespace reval {

nlohmann::json to_json(const SamplingParams& p) {
  return {{"temperature", p.temperature}, {"top_p", p.top_p}, {"top_k", p.top_k}, {"min_p", p.min_p},
          {"max_new_tokens", p.max_new_tokens}, {"seed", p.seed}, {"stop", p.stop}};
}

namespace {
// FNV-1a over the field, then a separator byte so ("ab","c") != ("a","bc").
std::uint64_t mix(std::uint64_t h, const std::string& s) { return fnv1a64(std::string_view("\xff", 1), fnv1a64(s, h)); }
}  // namespace

std::uint64_t sample_seed(std::uint64_t run_seed, const std::string& task, const std::string& problem_id,
                          int sample_index) {
  std::uint64_t h = kFnv1a64Basis ^ splitmix64_mix(run_seed);
  h = mix(h, task);
  h = mix(h, problem_id);
  h = mix(h, std::to_string(sample_index));
  return splitmix64_mix(h);
}

}  // namespace reval
