// The single-sequence path: one sequence through the forward pass with its own blocks, no scheduler, no sharing,
// no prefix cache, no preemption — the reference the scheduler is tested against, and the logits path of the
// golden tests.
//
// Theory of operation: SequenceRunner owns a small KV pool (just enough blocks for its capacity, assigned in order)
// and a ForwardPass sized for one sequence; forward() appends tokens to the sequence and returns the logits of its
// last (or every) new token. generate_one() is the plainest generation loop: prefill the prompt (in chunks), then
// one token per step, drawing each token on the host from the downloaded logits with sample_token() and the same
// counter-based uniform (seed, position) the engine's sample operation uses.
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "model/engine/forward.hpp"
#include "model/engine/kv_cache.hpp"
#include "model/engine/model.hpp"
#include "model/engine/ops.hpp"
#include "model/engine/request.hpp"

namespace reval::engine {

class SequenceRunner {
 public:
  // capacity: positions the sequence may hold; max_chunk: tokens per forward step (longer inputs are split).
  SequenceRunner(std::shared_ptr<const Model> model, DeviceOps& ops, std::int64_t capacity, int block_size = 16,
                 std::int64_t max_chunk = 512);
  ~SequenceRunner();
  const Model& model() const { return *model_; }
  std::int64_t size() const { return size_; }
  std::int64_t capacity() const { return capacity_; }
  // Appends `tokens`; returns logits [n or 1, vocab] for every new token (all_logits) or the last one. Throws
  // reval::Error when the capacity would overflow or a token id is out of range (the sequence is unchanged).
  std::vector<float> forward(std::span<const TokenId> tokens, bool all_logits);
  void reset() { size_ = 0; }

 private:
  std::shared_ptr<const Model> model_;
  std::int64_t capacity_, max_chunk_, size_ = 0;
  std::vector<std::int32_t> table_;
  std::unique_ptr<KvCache> kv_;
  std::unique_ptr<ForwardPass> forward_;
};

// One sample of `request` (its seeds[sample]) generated on the single-sequence path. Honours max_new_tokens,
// stop tokens, the position limit and on_token like the engine (on_finish is not called).
SampleResult generate_one(std::shared_ptr<const Model> model, DeviceOps& ops, const Request& request,
                          std::size_t sample, std::int64_t prefill_chunk = 512);

}  // namespace reval::engine
