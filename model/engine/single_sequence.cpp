// SequenceRunner and generate_one (see single_sequence.hpp).
#include "model/engine/single_sequence.hpp"

#include <algorithm>

#include "base/error.hpp"
#include "kernels/counter_rng.hpp"

namespace reval::engine {

SequenceRunner::SequenceRunner(std::shared_ptr<const Model> model, DeviceOps& ops, std::int64_t capacity,
                               int block_size, std::int64_t max_chunk)
    : model_(std::move(model)), capacity_(capacity), max_chunk_(std::max<std::int64_t>(1, max_chunk)) {
  if (capacity <= 0) throw Error("sequence runner: capacity must be positive");
  if (block_size <= 0) throw Error("sequence runner: block size must be positive");
  KvLayout layout;
  layout.layers = model_->config().num_layers;
  layout.kv_heads = model_->config().num_kv_heads;
  layout.head_dim = model_->config().head_dim;
  layout.block_size = block_size;
  layout.dtype = ops.kv_dtype();
  layout.num_blocks = static_cast<std::int32_t>((capacity + block_size - 1) / block_size);
  // Blocks in a scrambled order, so the runner's table is not the identity (paging is exercised).
  for (std::int32_t b = 0; b < layout.num_blocks; ++b) table_.push_back(layout.num_blocks - 1 - b);
  kv_ = std::make_unique<KvCache>(ops, layout);
  ForwardLimits limits;
  limits.max_tokens = max_chunk_;
  limits.max_seqs = 1;
  limits.max_blocks_per_seq = layout.num_blocks;
  limits.max_logits_rows = max_chunk_;
  limits.max_sample_rows = 1;
  limits.max_block_copies = 1;
  forward_ = std::make_unique<ForwardPass>(model_, ops, *kv_, limits);
}

SequenceRunner::~SequenceRunner() = default;

std::vector<float> SequenceRunner::forward(std::span<const TokenId> tokens, bool all_logits) {
  const std::int64_t n = static_cast<std::int64_t>(tokens.size());
  if (n == 0) throw Error("sequence runner: no tokens");
  if (size_ + n > capacity_)
    throw Error("forward: KV cache full (" + std::to_string(size_) + " + " + std::to_string(n) +
                " tokens > capacity " + std::to_string(capacity_) + ")");
  const std::int64_t V = model_->vocab_rows();
  for (TokenId t : tokens)
    if (t < 0 || t >= V)
      throw Error("forward: token id " + std::to_string(t) + " out of range [0, " + std::to_string(V) + ")");
  std::vector<float> out, part;
  std::vector<TokenId> none;
  StepPlan plan;
  const int bs = kv_->layout().block_size;
  for (std::int64_t b = 0; b < n; b += max_chunk_) {
    const std::int64_t e = std::min(n, b + max_chunk_);
    const bool last = e == n;
    plan.clear();
    plan.add_sequence(tokens.subspan(static_cast<std::size_t>(b), static_cast<std::size_t>(e - b)), size_ + b, table_,
                      bs, !all_logits && last);
    if (all_logits) plan.add_all_logits_of_last_sequence();
    forward_->run(plan, none, (all_logits || last) ? &part : nullptr);
    if (all_logits || last) out.insert(out.end(), part.begin(), part.end());
  }
  size_ += n;
  return out;
}

SampleResult generate_one(std::shared_ptr<const Model> model, DeviceOps& ops, const Request& r, std::size_t sample,
                          std::int64_t prefill_chunk) {
  if (r.prompt.empty()) throw Error("generate: empty prompt");
  const ModelConfig& c = model->config();
  const std::int64_t V = model->vocab_rows();
  const std::int64_t n_valid = r.vocab_limit > 0 ? std::min(r.vocab_limit, V) : V;
  const std::int64_t max_new = std::max<std::int64_t>(0, r.max_new_tokens);
  const std::int64_t P = static_cast<std::int64_t>(r.prompt.size());
  const std::int64_t capacity = sample_capacity(c, P, max_new);
  const std::uint64_t seed = r.seeds.at(sample);
  SampleResult out;
  out.prompt_tokens = P;
  if (max_new == 0) return out;
  SequenceRunner runner(model, ops, kv_positions_needed(c, P, max_new), 16, prefill_chunk);
  std::vector<float> logits = runner.forward(r.prompt, false);
  SamplerScratch scratch;
  for (;;) {
    const auto position = static_cast<std::uint64_t>(P + static_cast<std::int64_t>(out.tokens.size()));
    const TokenId t = sample_token(logits.data(), n_valid, r.sampler, kernels::counter_uniform(seed, position), scratch);
    if (std::find(r.stop_tokens.begin(), r.stop_tokens.end(), t) != r.stop_tokens.end()) {
      out.finish = Finish::eos;
      return out;
    }
    out.tokens.push_back(t);
    if (r.on_token && !r.on_token(sample, t)) {
      out.finish = Finish::stop;
      return out;
    }
    const std::int64_t g = static_cast<std::int64_t>(out.tokens.size());
    if (g >= max_new || P + g > capacity) {
      out.finish = Finish::length;
      return out;
    }
    logits = runner.forward(std::span<const TokenId>(&out.tokens.back(), 1), false);
  }
}

}  // namespace reval::engine
